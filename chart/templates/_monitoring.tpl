{{/*
corral.monitoring.union: PromQL for one kind of engine metric across every engine preset, so one
dashboard or alert works whatever engine a group runs: `expr(m1) or expr(m2) ...` where expr
is a printf pattern applied to each preset's metricNames.<key> and, for "errors", its errorsFilter
label matcher (engines without the metric are skipped).
Usage: {{ include "corral.monitoring.union" (dict "ctx" $ "key" "queue" "expr" "sum by (corral_dev_group) (%s{...})") }}
*/}}
{{- define "corral.monitoring.union" -}}
{{- $parts := list -}}
{{- range $file, $_ := .ctx.Files.Glob "presets/engines/*.yaml" -}}
{{- $names := ($.ctx.Files.Get $file | fromYaml).metricNames | default dict -}}
{{- $metric := index $names $.key -}}
{{- if $metric -}}
{{- $filter := ternary (printf ",%s" (index $names "errorsFilter")) "" (and (eq $.key "errors") (ne (index $names "errorsFilter") "")) -}}
{{- $parts = append $parts (printf $.expr $metric $filter) -}}
{{- end -}}
{{- end -}}
{{- join " or " $parts -}}
{{- end -}}
