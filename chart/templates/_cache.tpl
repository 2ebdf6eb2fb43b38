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

{{/*
corral.cache.groupPreloads: with nodeCache.preloadGroups, the preload entries of this release's
s3:// node-cache groups by the GPU product their pods are pinned to (`nvidia.com/gpu.product`, as
the pod template sets it), one per cache directory, in directory order, as YAML; groups without a
product have no GPU node agent to preload them.
Usage: {{ include "corral.cache.groupPreloads" $ | fromYaml }}
*/}}
{{- define "corral.cache.groupPreloads" -}}
{{- include "corral.groups.all" . -}}
{{- $byProduct := dict -}}
{{- if .Values.nodeCache.preloadGroups -}}
{{- range $g := .corralGroups -}}
{{- $product := index ($g.values.nodeSelector | default dict) "nvidia.com/gpu.product" | default $g.profile.product -}}
{{- if and $product $g.fetch (eq $g.values.cache.type "node") (eq $g.model.source "s3") -}}
{{- $entries := get $byProduct $product | default dict -}}
{{- $_ := set $entries $g.model.dir (dict "model" $g.model.url "pins" ($g.values.pins | default dict)) -}}
{{- $_ := set $byProduct $product $entries -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $lists := dict -}}
{{- range $product, $entries := $byProduct -}}
{{- $list := list -}}
{{- range $dir := keys $entries | sortAlpha }}{{ $list = append $list (index $entries $dir) }}{{ end -}}
{{- $_ := set $lists $product $list -}}
{{- end -}}
{{- toYaml $lists -}}
{{- end -}}

{{/*
corral.cache.agent: one cache agent DaemonSet. Without a product it is the shared agent on every
GPU node but those of the products in `avoid`; with one, the agent of that product's nodes, named
and selected by the product too. A model listed twice (in nodeCache.preload and as a group's) is
preloaded once.
Usage: {{ include "corral.cache.agent" (dict "ctx" $ "preload" $entries "product" "NVIDIA-L4") }}
       {{ include "corral.cache.agent" (dict "ctx" $ "preload" $entries "avoid" $products) }}
*/}}
{{- define "corral.cache.agent" -}}
{{- $ctx := .ctx -}}
{{- $nc := $ctx.Values.nodeCache -}}
{{- $a := $nc.agent -}}
{{- $mount := "/cache" -}}
{{- $name := printf "%s-cache-agent" (include "corral.names.fullname" $ctx) -}}
{{- $nodeSelector := deepCopy ($a.nodeSelector | default dict) -}}
{{- $extra := dict -}}
{{- with .product -}}
{{- $slug := regexReplaceAll "[^a-z0-9-]+" (lower .) "-" -}}
{{- $name = printf "%s-%s" $name $slug | trunc 63 | trimSuffix "-" -}}
{{- $_ := set $nodeSelector "nvidia.com/gpu.product" . -}}
{{- $_ := set $extra "corral.dev/gpu-product" ($slug | trunc 63 | trimSuffix "-") -}}
{{- end }}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "corral.labels.standard" (dict "ctx" $ctx "component" "cache-agent") | nindent 4 }}
    {{- with $extra }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "corral.labels.selector" (dict "ctx" $ctx "component" "cache-agent") | nindent 6 }}
      {{- with $extra }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 1
  template:
    metadata:
      labels:
        {{- include "corral.labels.standard" (dict "ctx" $ctx "component" "cache-agent") | nindent 8 }}
        {{- with $extra }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/script: {{ $ctx.Files.Get "files/modelcache.py" | sha256sum }}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with include "corral.images.pullSecrets" (dict "ctx" $ctx) }}
      {{- . | nindent 6 }}
      {{- end }}
      securityContext:
        runAsNonRoot: true
        runAsUser: {{ int $nc.runAsUser }}
        runAsGroup: {{ int $nc.runAsGroup }}
        seccompProfile:
          type: RuntimeDefault
      {{- with $a.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .avoid }}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions:
                  - key: nvidia.com/gpu.product
                    operator: NotIn
                    values:
                      {{- toYaml . | nindent 22 }}
      {{- end }}
      {{- with $a.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if .preload }}
      initContainers:
        {{- include "corral.pod.rclone" $ctx | nindent 8 }}
      {{- end }}
      containers:
        - name: agent
          image: {{ include "corral.images.ref" (dict "ctx" $ctx "repository" $nc.image.repository "tag" $nc.image.tag) | quote }}
          imagePullPolicy: {{ $nc.image.pullPolicy }}
          command:
            - python3
            - /corral/modelcache.py
            - agent
            - --root={{ $mount }}
            - --budget={{ mul (int64 $nc.budgetGiB) 1073741824 }}
            - --port={{ int $a.port }}
            - --interval={{ int $a.intervalSeconds }}
            - --rclone=/run/corral/rclone
            {{- $seen := list }}
            {{- range .preload }}
            {{- $preload := dict "dir" (include "corral.groups.s3Dir" (dict "url" .model "pins" .pins)) "source" (trimSuffix "/" .model) "pins" (.pins | default dict) }}
            {{- if not (has $preload.dir $seen) }}
            {{- $seen = append $seen $preload.dir }}
            - {{ printf "--preload=%s" (toJson $preload) | quote }}
            {{- end }}
            {{- end }}
          env:
            - {name: PYTHONDONTWRITEBYTECODE, value: "1"}
            - {name: PYTHONUNBUFFERED, value: "1"}
            {{- if .preload }}
            {{- include "corral.cache.storeEnv" $ctx | nindent 12 }}
            {{- end }}
          ports:
            - {name: metrics, containerPort: {{ int $a.port }}, protocol: TCP}
          readinessProbe:
            httpGet: {path: /health, port: metrics}
            periodSeconds: 10
          livenessProbe:
            httpGet: {path: /health, port: metrics}
            periodSeconds: 30
            failureThreshold: 3
          {{- with $a.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- include "corral.cache.securityContext" $ctx | nindent 12 }}
          volumeMounts:
            - {name: cache, mountPath: {{ $mount }}}
            - {name: modelcache, mountPath: /corral, readOnly: true}
            - {name: corral-run, mountPath: /run/corral}
      volumes:
        # Provisioned with the node's local disk and owned by nodeCache.runAsUser.
        - name: cache
          hostPath:
            path: {{ $nc.root }}
            type: Directory
        - name: modelcache
          configMap:
            name: {{ include "corral.names.fullname" $ctx }}-modelcache
        - name: corral-run
          emptyDir: {}
{{- end -}}
