{{/*
corral.credentials.env: a problem line for each env entry whose literal `value` is a credential
(a credential's name, or a token's shape; presets/credentials.yaml), as a YAML list.
Usage: {{ include "corral.credentials.env" (dict "ctx" $ "path" "modelGroups.a.env" "env" $v.env) | fromYamlArray }}
*/}}
{{- define "corral.credentials.env" -}}
{{- $c := .ctx.Files.Get "presets/credentials.yaml" | fromYaml -}}
{{- $problems := list -}}
{{- $fix := "put it in a Secret and use valueFrom.secretKeyRef" -}}
{{- range $i, $e := .env | default list -}}
{{- $value := toString ($e.value | default "") -}}
{{- if and $value (not (regexMatch $c.reference $value)) -}}
{{- $at := printf "%s[%d].value" $.path $i -}}
{{- $kind := include "corral.credentials.shape" (dict "c" $c "text" $value) -}}
{{- if regexMatch $c.names (toString $e.name) -}}
{{- $problems = append $problems (printf "%s: %s is a credential written literally; %s" $at $e.name $fix) -}}
{{- else if $kind -}}
{{- $problems = append $problems (printf "%s: looks like %s written literally; %s" $at $kind $fix) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/*
corral.credentials.args: a problem line for each argument that carries a literal credential: the
value of a credential-named flag (`--api-key=...` or `--api-key ...`), or a token's shape.
Usage: {{ include "corral.credentials.args" (dict "ctx" $ "path" "gateway.extraArgs" "args" $args) | fromYamlArray }}
*/}}
{{- define "corral.credentials.args" -}}
{{- $c := .ctx.Files.Get "presets/credentials.yaml" | fromYaml -}}
{{- $problems := list -}}
{{- $fix := "put it in a Secret, add it to env with valueFrom.secretKeyRef and pass $(NAME) here" -}}
{{- $pending := "" -}}
{{- range $i, $arg := .args | default list -}}
{{- $a := toString $arg -}}
{{- $at := printf "%s[%d]" $.path $i -}}
{{- $flagged := false -}}
{{- if and $pending (not (hasPrefix "-" $a)) -}}
{{- if and $a (not (regexMatch $c.reference $a)) -}}
{{- $problems = append $problems (printf "%s: %s takes a credential, written here literally; %s" $at $pending $fix) -}}
{{- $flagged = true -}}
{{- end -}}
{{- end -}}
{{- $pending = "" -}}
{{- if and (not $flagged) (hasPrefix "-" $a) -}}
{{- $parts := splitn "=" 2 $a -}}
{{- $name := $parts._0 | trimAll "-" | replace "-" "_" -}}
{{- if regexMatch $c.names $name -}}
{{- if not (contains "=" $a) -}}
{{- $pending = $parts._0 -}}
{{- else if and $parts._1 (not (regexMatch $c.reference $parts._1)) -}}
{{- $problems = append $problems (printf "%s: %s takes a credential, written here literally; %s" $at $parts._0 $fix) -}}
{{- $flagged = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $flagged -}}
{{- with include "corral.credentials.shape" (dict "c" $c "text" $a) -}}
{{- $problems = append $problems (printf "%s: looks like %s written literally; %s" $at . $fix) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/*
corral.credentials.shape: the kind of the first token shape text matches ("" when none).
Usage: {{ include "corral.credentials.shape" (dict "c" $credentials "text" $value) }}
*/}}
{{- define "corral.credentials.shape" -}}
{{- $text := .text -}}
{{- $kind := "" -}}
{{- range .c.shapes -}}
{{- if and (not $kind) (regexMatch .pattern $text) }}{{ $kind = .kind }}{{ end -}}
{{- end -}}
{{- $kind -}}
{{- end -}}
