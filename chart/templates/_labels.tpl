{{/*
corral.labels.standard: app.kubernetes.io labels plus commonLabels, for every object.
Usage: {{ include "corral.labels.standard" (dict "ctx" $ "component" "model-server") }}
*/}}
{{- define "corral.labels.standard" -}}
{{- $ctx := .ctx -}}
helm.sh/chart: {{ include "corral.names.chart" $ctx }}
{{ include "corral.labels.selector" . }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
app.kubernetes.io/part-of: corral
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
corral.labels.selector: the immutable labels a selector matches on.
Usage: {{ include "corral.labels.selector" (dict "ctx" $ "component" "model-server") }}
*/}}
{{- define "corral.labels.selector" -}}
app.kubernetes.io/name: {{ include "corral.names.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/*
corral.labels.groupSelector: selector labels of one model group's pods.
Usage: {{ include "corral.labels.groupSelector" (dict "ctx" $ "group" $g) }}
*/}}
{{- define "corral.labels.groupSelector" -}}
{{ include "corral.labels.selector" (dict "ctx" .ctx "component" "model-server") }}
corral.dev/group: {{ .group.name }}
{{- end -}}

{{/*
corral.labels.group: every label of a model group's objects. Pods also carry corral.dev/model,
the canonical served name the gateway routes on, and corral.dev/engine.
Usage: {{ include "corral.labels.group" (dict "ctx" $ "group" $g) }}
*/}}
{{- define "corral.labels.group" -}}
{{ include "corral.labels.standard" (dict "ctx" .ctx "component" "model-server") }}
corral.dev/group: {{ .group.name }}
corral.dev/model: {{ .group.servedName }}
corral.dev/engine: {{ .group.preset.engine }}
{{- end -}}

{{/*
corral.labels.standbySelector: selector labels of a model group's standby pod (scale from zero).
Usage: {{ include "corral.labels.standbySelector" (dict "ctx" $ "group" $g) }}
*/}}
{{- define "corral.labels.standbySelector" -}}
{{ include "corral.labels.selector" (dict "ctx" .ctx "component" "standby") }}
corral.dev/group: {{ .group.name }}
{{- end -}}

{{/*
corral.labels.standby: every label of a model group's standby objects.
Usage: {{ include "corral.labels.standby" (dict "ctx" $ "group" $g) }}
*/}}
{{- define "corral.labels.standby" -}}
{{ include "corral.labels.standard" (dict "ctx" .ctx "component" "standby") }}
corral.dev/group: {{ .group.name }}
{{- end -}}
