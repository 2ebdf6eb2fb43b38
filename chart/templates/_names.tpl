{{/*
corral.names.name: the chart name, or nameOverride.
Usage: {{ include "corral.names.name" . }}
*/}}
{{- define "corral.names.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
corral.names.fullname: the prefix of every object name: fullnameOverride, the release name when it
already contains the chart name, or release-chart. Truncated to 63 characters.
Usage: {{ include "corral.names.fullname" . }}
*/}}
{{- define "corral.names.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "corral.names.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
corral.names.chart: chart name and version, for the helm.sh/chart label.
Usage: {{ include "corral.names.chart" . }}
*/}}
{{- define "corral.names.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
corral.names.hfTokenSecret: the Secret holding the Hugging Face token ("" when none is configured).
Usage: {{ include "corral.names.hfTokenSecret" . }}
*/}}
{{- define "corral.names.hfTokenSecret" -}}
{{- $token := .Values.huggingface.token -}}
{{- if $token.existingSecret -}}
{{- $token.existingSecret -}}
{{- else if $token.value -}}
{{- printf "%s-hf-token" (include "corral.names.fullname" .) -}}
{{- end -}}
{{- end -}}
