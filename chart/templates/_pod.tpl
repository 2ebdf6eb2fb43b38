{{/*
corral.pod.template: the pod template of a model group, shared by every workload kind. role is ""
(a Deployment pod), "leader" or "worker" (LeaderWorkerSet): workers get the preset's worker
arguments, no probes and no model-name label, so only leaders are routed to.
Usage: {{ include "corral.pod.template" (dict "ctx" $ "group" $g "role" "leader") | nindent 4 }}
*/}}
{{- define "corral.pod.template" -}}
{{- $ctx := .ctx -}}
{{- $g := .group -}}
{{- $v := $g.values -}}
{{- $p := $g.preset -}}
{{- $role := .role | default "" -}}
metadata:
  labels:
    {{- if eq $role "worker" }}
    {{- include "corral.labels.standard" (dict "ctx" $ctx "component" "model-server") | nindent 4 }}
    corral.dev/group: {{ $g.name }}
    corral.dev/engine: {{ $p.engine }}
    {{- else }}
    {{- include "corral.labels.group" . | nindent 4 }}
    {{- end }}
    {{- with $role }}
    corral.dev/role: {{ . }}
    {{- end }}
    {{- if ne $role "worker" }}
    corral.dev/serving: "true"
    {{- end }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- $annotations := dict }}
  {{- if ne $role "worker" }}
  {{- $annotations = dict "prometheus.io/scrape" "true" "prometheus.io/port" (toString (int $p.port)) "prometheus.io/path" $p.metrics.path "smg.ai/worker-ports" (toString (int $p.port)) }}
  {{- end }}
  {{- $annotations = mustMergeOverwrite $annotations (deepCopy ($v.podAnnotations | default dict)) }}
  {{- with $g.engineConfig }}
  {{- $_ := set $annotations "checksum/engine-config" (toYaml . | sha256sum) }}
  {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- include "corral.pod.serviceAccount" $g | nindent 2 }}
  automountServiceAccountToken: {{ $v.automountServiceAccountToken }}
  {{- with include "corral.images.pullSecrets" (dict "ctx" $ctx "extra" $v.imagePullSecrets) }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $v.runtimeClassName }}
  runtimeClassName: {{ . }}
  {{- end }}
  {{- with $v.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ int $v.terminationGracePeriodSeconds }}
  {{- $nodeSelector := dict -}}
  {{- with $g.profile.product }}{{ $_ := set $nodeSelector "nvidia.com/gpu.product" . }}{{ end -}}
  {{- $nodeSelector = mustMergeOverwrite $nodeSelector (deepCopy ($g.profile.nodeSelector | default dict)) -}}
  {{- $nodeSelector = mustMergeOverwrite $nodeSelector ($v.nodeSelector | default dict) }}
  {{- with $nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with concat ($g.profile.tolerations | default list) ($v.tolerations | default list) }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $fetched := list }}
  {{- range $i, $a := $g.adapters }}{{ if $a.download }}{{ $fetched = append $fetched $i }}{{ end }}{{ end }}
  {{- if or $g.download $fetched }}
  initContainers:
    {{- if $g.download }}
    {{- if eq $v.cache.type "node" }}
    {{- include "corral.pod.cacheHold" . | nindent 4 }}
    {{- end }}
    {{- if eq $g.model.source "s3" }}
    {{- include "corral.pod.rclone" $ctx | nindent 4 }}
    {{- end }}
    {{- if $g.fetch }}
    {{- include "corral.pod.fetch" . | nindent 4 }}
    {{- else }}
    {{- include "corral.pod.download" (dict "ctx" $ctx "group" $g "name" "download" "id" $g.model.id "revision" $v.revision "dir" $g.model.ref) | nindent 4 }}
    {{- end }}
    {{- end }}
    {{- range $i := $fetched }}
    {{- $a := index $g.adapters $i }}
    {{- include "corral.pod.download" (dict "ctx" $ctx "group" $g "name" (printf "download-adapter-%d" $i) "id" $a.id "revision" $a.revision "dir" $a.ref) | nindent 4 }}
    {{- end }}
  {{- end }}
  containers:
    - name: engine
      image: {{ include "corral.images.ref" (dict "ctx" $ctx "repository" $p.image.repository "tag" $p.image.tag) | quote }}
      imagePullPolicy: {{ $p.image.pullPolicy }}
      {{- $mn := $p.multiNode | default dict }}
      {{- if and (eq $role "worker") $mn.workerCommand }}
      {{- /* Workers that only host ranks (e.g. sshd for MPI) run the preset's worker command alone. */}}
      command:
        {{- toYaml $mn.workerCommand | nindent 8 }}
      {{- else }}
      command:
        {{- toYaml (concat (ternary ($mn.leaderCommand | default list) list (eq $role "leader")) $p.command) | nindent 8 }}
      {{- with include "corral.engine.args" (dict "group" $g "role" $role) }}
      args:
        {{- . | nindent 8 }}
      {{- end }}
      {{- end }}
      ports:
        - name: http
          containerPort: {{ int $p.port }}
          protocol: TCP
        {{- if and $role $mn.sshPort }}
        - name: ssh
          containerPort: {{ int $mn.sshPort }}
          protocol: TCP
        {{- end }}
      {{- with include "corral.engine.env" . }}
      env:
        {{- . | nindent 8 }}
      {{- end }}
      {{- with $v.envFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if ne $role "worker" }}
      {{- include "corral.pod.probes" $g | nindent 6 }}
      {{- end }}
      {{- if gt (int $v.preStopSleepSeconds) 0 }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ int $v.preStopSleepSeconds }}
      {{- end }}
      {{- with include "corral.pod.resources" $g }}
      resources:
        {{- . | nindent 8 }}
      {{- end }}
      {{- with include "corral.pod.securityContext" (dict "group" $g "role" $role) }}
      securityContext:
        {{- . | nindent 8 }}
      {{- end }}
      volumeMounts:
        {{- include "corral.pod.volumeMounts" $g | nindent 8 }}
  volumes:
    {{- include "corral.pod.volumes" . | nindent 4 }}
{{- end -}}

{{/*
corral.pod.serviceAccount: serviceAccountName of a group's pods.
Usage: {{ include "corral.pod.serviceAccount" $g }}
*/}}
{{- define "corral.pod.serviceAccount" -}}
{{- $sa := .values.serviceAccount -}}
serviceAccountName: {{ $sa.name | default (ternary .fullname "default" $sa.create) }}
{{- end -}}

{{/*
corral.pod.download: an init container that fetches an hf:// repository (the model, or a LoRA
adapter) at its pinned revision into a directory of its own in the cache (skipping files already
there), so the engine starts from local disk and never needs the Hub or a revision flag of its own.
Usage: {{ include "corral.pod.download" (dict "ctx" $ "group" $g "name" "download" "id" ID "revision" REV "dir" DIR) }}
*/}}
{{- define "corral.pod.download" -}}
{{- $g := .group -}}
{{- $v := $g.values -}}
{{- $img := $v.download.image -}}
{{- $cmd := list "hf" "download" .id -}}
{{- with .revision }}{{ $cmd = concat $cmd (list "--revision" (toString .)) }}{{ end -}}
{{- $cmd = concat $cmd (list "--local-dir" .dir) -}}
- name: {{ .name }}
  image: {{ include "corral.images.ref" (dict "ctx" .ctx "repository" ($img.repository | default $g.preset.image.repository) "tag" ($img.tag | default $g.preset.image.tag)) | quote }}
  imagePullPolicy: {{ $g.preset.image.pullPolicy }}
  command:
    {{- toYaml $cmd | nindent 4 }}
  env:
    {{- include "corral.engine.hfEnv" . | nindent 4 }}
    - name: HF_HUB_DISABLE_TELEMETRY
      value: "1"
  {{- with $v.download.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: cache
      mountPath: {{ $v.cache.mountPath }}
{{- end -}}

{{/*
corral.pod.cacheHold: a sidecar (started before the fetch, alive as long as the pod) that holds the
model's use lock on the node cache, so the cache agent never evicts a model a pod uses.
Usage: {{ include "corral.pod.cacheHold" (dict "ctx" $ "group" $g) }}
*/}}
{{- define "corral.pod.cacheHold" -}}
{{- $nc := .ctx.Values.nodeCache -}}
{{- $g := .group -}}
- name: cache-hold
  image: {{ include "corral.images.ref" (dict "ctx" .ctx "repository" $nc.image.repository "tag" $nc.image.tag) | quote }}
  imagePullPolicy: {{ $nc.image.pullPolicy }}
  restartPolicy: Always
  command: [python3, /corral/modelcache.py, hold, --root, {{ $g.values.cache.mountPath | quote }}, --dir, {{ $g.model.dir | quote }}, --ready, /run/corral/held]
  env:
    - {name: PYTHONDONTWRITEBYTECODE, value: "1"}
  # The fetch starts only once the lock is held.
  startupProbe:
    exec:
      command: [test, -e, /run/corral/held]
    periodSeconds: 1
    failureThreshold: 60
  {{- with $nc.holdResources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "corral.cache.securityContext" .ctx | nindent 4 }}
  volumeMounts:
    - {name: cache, mountPath: {{ $g.values.cache.mountPath }}}
    - {name: modelcache, mountPath: /corral, readOnly: true}
    - {name: corral-run, mountPath: /run/corral}
{{- end -}}

{{/*
corral.pod.rclone: copies the rclone binary (static) from its pinned image for the fetch to run.
Usage: {{ include "corral.pod.rclone" $ }}
*/}}
{{- define "corral.pod.rclone" -}}
{{- $img := .Values.objectStore.rclone.image -}}
- name: rclone
  image: {{ include "corral.images.ref" (dict "ctx" . "repository" $img.repository "tag" $img.tag) | quote }}
  imagePullPolicy: {{ $img.pullPolicy }}
  command: [cp, /usr/local/bin/rclone, /run/corral/rclone]
  securityContext:
    {{- include "corral.cache.securityContext" . | nindent 4 }}
  volumeMounts:
    - {name: corral-run, mountPath: /run/corral}
{{- end -}}

{{/*
corral.pod.fetch: the init container that brings an s3:// model (rclone), or any model of a node
cache (rclone or the hf CLI), into its directory under the cache with chart/files/modelcache.py:
one download per model at a time, into a partial directory renamed into place once complete and
verified, pinned ETags checked against the store first.
Usage: {{ include "corral.pod.fetch" (dict "ctx" $ "group" $g) }}
*/}}
{{- define "corral.pod.fetch" -}}
{{- $g := .group -}}
{{- $v := $g.values -}}
{{- $img := $v.download.image -}}
{{- $cmd := list "python3" "/corral/modelcache.py" "fetch" "--root" $v.cache.mountPath "--dir" $g.model.dir -}}
{{- if eq $g.model.source "s3" -}}
{{- $cmd = concat $cmd (list "--source" $g.model.url "--rclone" "/run/corral/rclone") -}}
{{- range $key := keys ($v.pins | default dict) | sortAlpha }}{{ $cmd = append $cmd (printf "--pin=%s=%s" $key (index $v.pins $key)) }}{{ end -}}
{{- else -}}
{{- $cmd = concat $cmd (list "--source" (printf "hf://%s" $g.model.id)) -}}
{{- with $v.revision }}{{ $cmd = concat $cmd (list "--revision" (toString .)) }}{{ end -}}
{{- end -}}
- name: download
  image: {{ include "corral.images.ref" (dict "ctx" .ctx "repository" ($img.repository | default $g.preset.image.repository) "tag" ($img.tag | default $g.preset.image.tag)) | quote }}
  imagePullPolicy: {{ $g.preset.image.pullPolicy }}
  command:
    {{- toYaml $cmd | nindent 4 }}
  env:
    - {name: PYTHONDONTWRITEBYTECODE, value: "1"}
    {{- if eq $g.model.source "s3" }}
    {{- include "corral.cache.storeEnv" .ctx | nindent 4 }}
    {{- else }}
    {{- include "corral.engine.hfEnv" . | nindent 4 }}
    - name: HF_HUB_DISABLE_TELEMETRY
      value: "1"
    {{- end }}
  {{- with $v.download.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- if eq $v.cache.type "node" }}
    {{- include "corral.cache.securityContext" .ctx | nindent 4 }}
    {{- else }}
    {{- toYaml ($v.securityContext | default dict) | nindent 4 }}
    {{- end }}
  volumeMounts:
    - {name: cache, mountPath: {{ $v.cache.mountPath }}}
    - {name: modelcache, mountPath: /corral, readOnly: true}
    - {name: corral-run, mountPath: /run/corral}
{{- end -}}

{{/*
corral.pod.probes: startup, readiness and liveness probes on the preset's health path (httpGet:
some engines accept TCP long before they can serve). The startup probe allows
probes.startupTimeoutSeconds for the model to load.
Usage: {{ include "corral.pod.probes" $g }}
*/}}
{{- define "corral.pod.probes" -}}
{{- $pr := .values.probes -}}
{{- $period := int $pr.periodSeconds -}}
{{- $timeout := int ($pr.timeoutSeconds | default .preset.health.timeoutSeconds) -}}
{{- $get := toYaml (dict "path" .preset.health.path "port" "http") | nindent 4 -}}
startupProbe:
  failureThreshold: {{ div (add (int $pr.startupTimeoutSeconds) (sub $period 1)) $period }}
  httpGet:
    {{- $get }}
  periodSeconds: {{ $period }}
  timeoutSeconds: {{ $timeout }}
readinessProbe:
  failureThreshold: {{ int $pr.readinessFailureThreshold }}
  httpGet:
    {{- $get }}
  periodSeconds: {{ $period }}
  timeoutSeconds: {{ $timeout }}
livenessProbe:
  failureThreshold: {{ int $pr.livenessFailureThreshold }}
  httpGet:
    {{- $get }}
  periodSeconds: {{ $period }}
  timeoutSeconds: {{ $timeout }}
{{- end -}}

{{/*
corral.pod.resources: the group's resources with the GPU limit from gpus.count and its profile.
Usage: {{ include "corral.pod.resources" $g }} (nothing when there are none)
*/}}
{{- define "corral.pod.resources" -}}
{{- $res := deepCopy (.values.resources | default dict) -}}
{{- $resource := "nvidia.com/gpu" -}}
{{- if hasKey .profile "resourceName" }}{{ $resource = .profile.resourceName }}{{ end -}}
{{- $limits := $res.limits | default dict -}}
{{- if and $resource (gt (int .values.gpus.count) 0) -}}
{{- $_ := set $limits $resource (int .values.gpus.count) -}}
{{- end -}}
{{- $rdma := .values.multiNode.rdma -}}
{{- if and (gt (int .values.nodes) 1) $rdma.enabled -}}
{{- $_ := set $limits $rdma.resourceName (int $rdma.count) -}}
{{- end -}}
{{- with $limits }}{{ $_ := set $res "limits" . }}{{ end -}}
{{- with $res }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/*
corral.pod.securityContext: the group's container security context; multi-node pods with RDMA
add IPC_LOCK (for registered memory), and run privileged only when multiNode.privileged says so.
Usage: {{ include "corral.pod.securityContext" (dict "group" $g "role" $role) }} (nothing when empty)
*/}}
{{- define "corral.pod.securityContext" -}}
{{- $v := .group.values -}}
{{- $sc := deepCopy ($v.securityContext | default dict) -}}
{{- if .role -}}
{{- if $v.multiNode.rdma.enabled -}}
{{- $caps := $sc.capabilities | default dict -}}
{{- $_ := set $caps "add" (append ($caps.add | default list) "IPC_LOCK" | uniq) -}}
{{- $_ := set $sc "capabilities" $caps -}}
{{- end -}}
{{- if $v.multiNode.privileged -}}
{{- $_ := set $sc "privileged" true -}}
{{- $_ := set $sc "allowPrivilegeEscalation" true -}}
{{- end -}}
{{- end -}}
{{- with $sc }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/*
corral.pod.volumeMounts: /dev/shm, the model cache, a pvc:// model source and pvc:// adapters.
Usage: {{ include "corral.pod.volumeMounts" $g }}
*/}}
{{- define "corral.pod.volumeMounts" -}}
- name: dshm
  mountPath: /dev/shm
{{- if ne .values.cache.type "none" }}
- name: cache
  mountPath: {{ .values.cache.mountPath }}
  {{- if eq .values.cache.type "node" }}
  # The node's cache is the agent's to change: engines only read it.
  readOnly: true
  {{- end }}
{{- end }}
{{- if eq .model.source "pvc" }}
- name: model-source
  mountPath: /model-source
  readOnly: true
{{- end }}
{{- range $i, $a := .adapters }}
{{- if eq $a.source "pvc" }}
- name: adapter-{{ $i }}
  mountPath: /adapter-sources/{{ $i }}
  readOnly: true
{{- end }}
{{- end }}
{{- if .engineConfig }}
- name: engine-config
  mountPath: /etc/corral/engine
  readOnly: true
{{- end }}
{{- if and (gt (int .values.nodes) 1) (.preset.multiNode | default dict).sshPort }}
- name: ssh
  mountPath: /etc/corral/ssh
  readOnly: true
{{- end }}
{{- end -}}

{{/*
corral.pod.volumes: the volumes behind corral.pod.volumeMounts and the init containers.
Usage: {{ include "corral.pod.volumes" (dict "ctx" $ "group" $g) }}
*/}}
{{- define "corral.pod.volumes" -}}
{{- $ctx := .ctx -}}
{{- with .group -}}
{{- $c := .values.cache -}}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .values.shmSize }}
{{- if eq $c.type "pvc" }}
- name: cache
  persistentVolumeClaim:
    claimName: {{ .fullname }}-cache
{{- else if eq $c.type "existingClaim" }}
- name: cache
  persistentVolumeClaim:
    claimName: {{ $c.existingClaim }}
{{- else if eq $c.type "hostPath" }}
- name: cache
  hostPath:
    path: {{ $c.hostPath }}
    type: DirectoryOrCreate
{{- else if eq $c.type "emptyDir" }}
- name: cache
  emptyDir: {}
{{- else if eq $c.type "node" }}
# Provisioned with the node's local disk and owned by nodeCache.runAsUser (never created here as root).
- name: cache
  hostPath:
    path: {{ $ctx.Values.nodeCache.root }}
    type: Directory
{{- end }}
{{- if .fetch }}
- name: modelcache
  configMap:
    name: {{ include "corral.names.fullname" $ctx }}-modelcache
- name: corral-run
  emptyDir: {}
{{- end }}
{{- if eq .model.source "pvc" }}
- name: model-source
  persistentVolumeClaim:
    claimName: {{ .model.claim }}
    readOnly: true
{{- end }}
{{- range $i, $a := .adapters }}
{{- if eq $a.source "pvc" }}
- name: adapter-{{ $i }}
  persistentVolumeClaim:
    claimName: {{ $a.claim }}
    readOnly: true
{{- end }}
{{- end }}
{{- if .engineConfig }}
- name: engine-config
  configMap:
    name: {{ .fullname }}-engine
{{- end }}
{{- if and (gt (int .values.nodes) 1) (.preset.multiNode | default dict).sshPort }}
- name: ssh
  secret:
    secretName: {{ .values.multiNode.sshSecret }}
    defaultMode: 0400
{{- end }}
{{- end }}
{{- end -}}
