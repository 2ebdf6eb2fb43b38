{{/*
corral.images.ref: an image reference "repository:tag" with global.imageRegistry in force: the
registry replaces the repository's own registry host (a first path part with a "." or ":", or
localhost), or goes in front of a name without one, so a mirror holds each image
under its usual path. Without global.imageRegistry the reference is as written.
Usage: {{ include "corral.images.ref" (dict "ctx" $ "repository" $repo "tag" $tag) | quote }}
*/}}
{{- define "corral.images.ref" -}}
{{- $repo := toString .repository -}}
{{- with .ctx.Values.global.imageRegistry -}}
{{- $parts := splitn "/" 2 $repo -}}
{{- $first := $parts._0 -}}
{{- if and $parts._1 (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- $repo = $parts._1 -}}
{{- end -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo -}}
{{- end -}}
{{- printf "%s:%s" $repo (toString .tag) -}}
{{- end -}}

{{/*
corral.images.pullSecrets: the pod's imagePullSecrets: global.imagePullSecrets, then the pod's own
(`extra`), each name once.
Usage: {{- include "corral.images.pullSecrets" (dict "ctx" $ "extra" $v.imagePullSecrets) | nindent 2 }}
(nothing when there are none)
*/}}
{{- define "corral.images.pullSecrets" -}}
{{- $names := list -}}
{{- $secrets := list -}}
{{- range concat (.ctx.Values.global.imagePullSecrets | default list) (.extra | default list) -}}
{{- if not (has .name $names) -}}
{{- $names = append $names .name -}}
{{- $secrets = append $secrets (dict "name" .name) -}}
{{- end -}}
{{- end -}}
{{- with $secrets -}}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}
