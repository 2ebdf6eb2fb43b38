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
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
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
    {{- include "corral.pod.download" (dict "ctx" $ctx "group" $g "name" "download" "id" $g.model.id "revision" $v.revision "dir" $g.model.ref) | nindent 4 }}
    {{- end }}
    {{- range $i := $fetched }}
    {{- $a := index $g.adapters $i }}
    {{- include "corral.pod.download" (dict "ctx" $ctx "group" $g "name" (printf "download-adapter-%d" $i) "id" $a.id "revision" $a.revision "dir" $a.ref) | nindent 4 }}
    {{- end }}
  {{- end }}
  containers:
    - name: engine
      image: {{ printf "%s:%s" $p.image.repository $p.image.tag | quote }}
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
    {{- include "corral.pod.volumes" $g | nindent 4 }}
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
  image: {{ printf "%s:%s" ($img.repository | default $g.preset.image.repository) (toString ($img.tag | default $g.preset.image.tag)) | quote }}
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
corral.pod.volumes: the volumes behind corral.pod.volumeMounts.
Usage: {{ include "corral.pod.volumes" $g }}
*/}}
{{- define "corral.pod.volumes" -}}
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
{{- end -}}
