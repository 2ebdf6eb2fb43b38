{{/*
corral.cache.securityContext: the container security context of every cache process (agent, hold,
rclone copy, and the fetch of a node cache): non-root as nodeCache.runAsUser, which owns the root.
Usage: {{ include "corral.cache.securityContext" $ }}
*/}}
{{- define "corral.cache.securityContext" -}}
{{- $nc := .Values.nodeCache -}}
runAsNonRoot: true
runAsUser: {{ int $nc.runAsUser }}
runAsGroup: {{ int $nc.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
corral.cache.storeEnv: rclone's S3 settings from objectStore, and the credentials only as
references to their Secret (never rendered).
Usage: {{ include "corral.cache.storeEnv" $ }}
*/}}
{{- define "corral.cache.storeEnv" -}}
{{- $os := .Values.objectStore -}}
- {name: RCLONE_CONFIG, value: /run/corral/rclone.conf}
- {name: RCLONE_CACHE_DIR, value: /run/corral/rclone-cache}
- {name: RCLONE_S3_PROVIDER, value: {{ $os.provider | quote }}}
{{- with $os.endpoint }}
- {name: RCLONE_S3_ENDPOINT, value: {{ . | quote }}}
{{- end }}
- {name: RCLONE_S3_REGION, value: {{ $os.region | quote }}}
- {name: RCLONE_S3_FORCE_PATH_STYLE, value: {{ $os.pathStyle | quote }}}
- {name: RCLONE_S3_ENV_AUTH, value: "true"}
{{- with $os.credentials.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ . }}, key: AWS_ACCESS_KEY_ID}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ . }}, key: AWS_SECRET_ACCESS_KEY}}
- name: AWS_SESSION_TOKEN
  valueFrom: {secretKeyRef: {name: {{ . }}, key: AWS_SESSION_TOKEN, optional: true}}
{{- end }}
{{- end -}}

{{/*
corral.cache.scriptNeeded: "true" when the release needs the modelcache script (a group fetches with
it, or the node cache agent runs).
Usage: {{ if include "corral.cache.scriptNeeded" $ }}
*/}}
{{- define "corral.cache.scriptNeeded" -}}
{{- include "corral.groups.all" . -}}
{{- $need := include "corral.cache.agentNeeded" . -}}
{{- range $g := .corralGroups }}{{ if $g.fetch }}{{ $need = "true" }}{{ end }}{{ end -}}
{{- $need -}}
{{- end -}}

{{/*
corral.cache.agentNeeded: "true" when the node cache agent runs: nodeCache.agent.enabled and a
group with cache.type node, or models to preload.
Usage: {{ if include "corral.cache.agentNeeded" $ }}
*/}}
{{- define "corral.cache.agentNeeded" -}}
{{- include "corral.groups.all" . -}}
{{- $nc := .Values.nodeCache -}}
{{- $need := gt (len $nc.preload) 0 -}}
{{- range $g := .corralGroups }}{{ if eq $g.values.cache.type "node" }}{{ $need = true }}{{ end }}{{ end -}}
{{- if and $nc.agent.enabled $need }}true{{ end -}}
{{- end -}}
