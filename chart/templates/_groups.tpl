{{/*
corral.groups.names: the enabled model group names, sorted, one per line.
Usage: {{ range $name := include "corral.groups.names" $ | splitList "\n" | compact }}
*/}}
{{- define "corral.groups.names" -}}
{{- range $name, $group := .Values.modelGroups -}}
{{- $enabled := $.Values.modelGroupDefaults.enabled -}}
{{- if and (kindIs "map" $group) (hasKey $group "enabled") -}}{{- $enabled = $group.enabled -}}{{- end -}}
{{- if $enabled }}
{{ $name }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
corral.groups.profiles: every GPU profile, presets/gpus.yaml with the gpuProfiles value over it. A
MIG profile (`mig` set) gets the resource and product label of the cluster's migStrategy: mixed
requests nvidia.com/mig-<mig> on nodes of its product, single requests nvidia.com/gpu on nodes
labelled <product>-MIG-<mig> (a resourceName of its own wins).
Usage: {{ $profiles := include "corral.groups.profiles" $ | fromYaml }}
*/}}
{{- define "corral.groups.profiles" -}}
{{- $profiles := mustMergeOverwrite (.Files.Get "presets/gpus.yaml" | fromYaml) (deepCopy .Values.gpuProfiles) -}}
{{- range $name, $p := $profiles -}}
{{- with $p.mig -}}
{{- if eq $.Values.migStrategy "single" -}}
{{- $_ := set $p "resourceName" ($p.resourceName | default "nvidia.com/gpu") -}}
{{- with $p.product }}{{ $_ := set $p "product" (printf "%s-MIG-%s" . $p.mig) }}{{ end -}}
{{- else -}}
{{- $_ := set $p "resourceName" ($p.resourceName | default (printf "nvidia.com/mig-%s" .)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $profiles -}}
{{- end -}}

{{/*
corral.groups.all: every enabled model group resolved, in name order, as the list $.corralGroups.
It prints nothing. Each group has everything a template needs worked out:
  name, fullname  the group's name and the name of its objects
  values      modelGroupDefaults with the group's own keys over it (maps merge, lists replace,
              an explicit false/0 wins: mergeOverwrite, never merge)
  preset      the engine preset with the group's image/command/port/paths over it ({} if unknown)
  profile     the GPU profile ({} when gpus.type is empty or unknown)
  servedName  canonical served name; servedNames: what the engine itself is told to serve
  model       source (hf | s3 | pvc | image), id (hf), url (s3), claim and subPath (pvc), dir (the
              model's directory under the cache root when downloaded), ref (what the engine
              loads: mountPath/dir when download is on, else the hf id or a path)
  download    true when an init container fetches the hf:// or s3:// model into the cache
  fetch       true when chart/files/modelcache.py does that fetch (every s3:// model, and every
              model of a cache.type node group): a lock, a partial directory, a rename
  adapters    the LoRA adapters: name, source (hf | pvc | image), id and revision (hf), claim and
              subPath (pvc), download (fetched into the cache), ref (what the engine loads)
  prefixCaching the preset's switch for settings.prefixCaching: args, env and config ({} if unset)
  engineConfig  content of the engine's options file ({} when the engine has none)
Why a memo: nearly every template needs every group and include returns only text, so each one
resolved them all again and read them back with fromYaml: most of the render time. Helm hands
all of a chart's templates one root context map per render, so the first call keeps the list
there (the usual Helm memo; .Values is left alone, so nothing that reads values sees it) and the
others reuse it. Templates only read the groups, never change them.
Usage: {{- include "corral.groups.all" $ }}{{ range $g := $.corralGroups }}
*/}}
{{- define "corral.groups.all" -}}
{{- if not (hasKey . "corralGroups") -}}
{{- $ctx := . -}}
{{- $fullname := include "corral.names.fullname" $ctx -}}
{{- $profiles := include "corral.groups.profiles" $ctx | fromYaml -}}
{{- $presets := dict -}}
{{- $groups := list -}}
{{- range $name := include "corral.groups.names" $ctx | splitList "\n" | compact -}}
{{- $raw := index $ctx.Values.modelGroups $name | default dict -}}
{{- $v := mustMergeOverwrite (deepCopy $ctx.Values.modelGroupDefaults) (deepCopy $raw) -}}
{{- $presetPath := printf "presets/engines/%s.yaml" (toString $v.engine) -}}
{{- if not (hasKey $presets $presetPath) -}}
{{- $_ := set $presets $presetPath ($ctx.Files.Get $presetPath | fromYaml) -}}
{{- end -}}
{{- $preset := dict -}}
{{- if and $v.engine (index $presets $presetPath) -}}
{{- $preset = deepCopy (index $presets $presetPath) -}}
{{- $image := $v.image | default dict -}}
{{- $_ := set $preset "image" (dict
      "repository" ($image.repository | default $preset.image.repository)
      "tag" (toString ($image.tag | default $preset.image.tag))
      "pullPolicy" ($image.pullPolicy | default "IfNotPresent")) -}}
{{- with $v.command }}{{ $_ := set $preset "command" . }}{{ end -}}
{{- with $v.port }}{{ $_ := set $preset "port" . }}{{ end -}}
{{- with $v.healthPath }}{{ $_ := set $preset.health "path" . }}{{ end -}}
{{- with $v.metricsPath }}{{ $_ := set $preset.metrics "path" . }}{{ end -}}
{{- end -}}
{{- $profile := dict -}}
{{- if and $v.gpus.type (hasKey $profiles $v.gpus.type) -}}
{{- $profile = index $profiles $v.gpus.type -}}
{{- end -}}
{{- $model := dict "source" "image" "ref" (toString $v.model) -}}
{{- $modelStr := toString $v.model -}}
{{- if hasPrefix "hf://" $modelStr -}}
{{- $id := trimPrefix "hf://" $modelStr -}}
{{- $model = dict "source" "hf" "id" $id "ref" $id -}}
{{- else if hasPrefix "s3://" $modelStr -}}
{{- $url := trimSuffix "/" $modelStr -}}
{{- $model = dict "source" "s3" "url" $url "ref" $url "dir" (include "corral.groups.s3Dir" (dict "url" $url "pins" $v.pins)) -}}
{{- else if hasPrefix "pvc://" $modelStr -}}
{{- $parts := splitn "/" 2 (trimPrefix "pvc://" $modelStr) -}}
{{- $sub := $parts._1 | default "" -}}
{{- $model = dict "source" "pvc" "claim" $parts._0 "subPath" $sub "ref" (printf "/model-source/%s" $sub | trimSuffix "/") -}}
{{- end -}}
{{- $download := and $v.download.enabled (has $model.source (list "hf" "s3")) (ne $v.cache.type "none") -}}
{{- $fetch := and $download (or (eq $model.source "s3") (eq $v.cache.type "node")) -}}
{{- if $download -}}
{{- if eq $model.source "hf" -}}
{{- $_ := set $model "dir" (printf "models/%s/%s" $model.id (toString ($v.revision | default "main"))) -}}
{{- end -}}
{{- $_ := set $model "ref" (printf "%s/%s" (trimSuffix "/" $v.cache.mountPath) $model.dir) -}}
{{- end -}}
{{- $adapters := list -}}
{{- $cacheOn := and $v.download.enabled (ne $v.cache.type "none") -}}
{{- range $i, $a := $v.adapters | default list -}}
{{- $src := toString $a.source -}}
{{- $ad := dict "name" $a.name "source" "image" "ref" $src "download" false -}}
{{- if hasPrefix "hf://" $src -}}
{{- $id := trimPrefix "hf://" $src -}}
{{- $ad = dict "name" $a.name "source" "hf" "id" $id "revision" (toString ($a.revision | default "")) "download" $cacheOn "ref" $id -}}
{{- if $cacheOn -}}
{{- $_ := set $ad "ref" (printf "%s/adapters/%s/%s" (trimSuffix "/" $v.cache.mountPath) $id (toString ($a.revision | default "main"))) -}}
{{- end -}}
{{- else if hasPrefix "pvc://" $src -}}
{{- $parts := splitn "/" 2 (trimPrefix "pvc://" $src) -}}
{{- $sub := $parts._1 | default "" -}}
{{- $ad = dict "name" $a.name "source" "pvc" "claim" $parts._0 "subPath" $sub "download" false "ref" (printf "/adapter-sources/%d/%s" $i $sub | trimSuffix "/") -}}
{{- end -}}
{{- $adapters = append $adapters $ad -}}
{{- end -}}
{{- $prefixCaching := dict -}}
{{- if not (kindIs "invalid" $v.settings.prefixCaching) -}}
{{- $prefixCaching = index ($preset.prefixCaching | default dict) (toString $v.settings.prefixCaching) | default dict -}}
{{- end -}}
{{- $engineConfig := dict -}}
{{- with $preset.configFile -}}
{{- $engineConfig = deepCopy .content -}}
{{- $engineConfig = mustMergeOverwrite $engineConfig (deepCopy ($prefixCaching.config | default dict)) -}}
{{- $engineConfig = mustMergeOverwrite $engineConfig (deepCopy ($v.engineConfig | default dict)) -}}
{{- end -}}
{{- $servedName := $v.servedName | default $name -}}
{{- $servedNames := list $servedName -}}
{{- if eq (toString $preset.servedNames) "multiple" -}}
{{- $servedNames = concat $servedNames ($v.aliases | default list) -}}
{{- end -}}
{{- $groups = append $groups (dict
      "name" $name
      "fullname" (printf "%s-%s" $fullname $name)
      "values" $v
      "preset" $preset
      "profile" $profile
      "servedName" $servedName
      "servedNames" $servedNames
      "model" $model
      "download" $download
      "fetch" $fetch
      "adapters" $adapters
      "prefixCaching" $prefixCaching
      "engineConfig" $engineConfig) -}}
{{- end -}}
{{- $_ := set $ctx "corralGroups" $groups -}}
{{- end -}}
{{- end -}}

{{/*
corral.groups.workload: apiVersion and kind of the group's workload, for scaleTargetRef.
Usage: {{ include "corral.groups.workload" $g | fromYaml }}
*/}}
{{- define "corral.groups.workload" -}}
{{- if gt (int .values.nodes) 1 -}}
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
{{- else -}}
apiVersion: apps/v1
kind: Deployment
{{- end -}}
{{- end -}}

{{/*
corral.groups.loadQuery: the PromQL an autoscaler reads: autoscaling.query, or the preset's queue
or running metric summed over the group's pods (labels the chart's PodMonitor puts on targets).
Usage: {{ include "corral.groups.loadQuery" (dict "ctx" $ "group" $g) }}
*/}}
{{- define "corral.groups.loadQuery" -}}
{{- $as := .group.values.autoscaling -}}
{{- if $as.query -}}
{{- $as.query -}}
{{- else -}}
{{- $metric := index .group.preset.metricNames $as.metric -}}
{{- printf "sum(%s{namespace=%q,app_kubernetes_io_instance=%q,corral_dev_group=%q})" $metric .ctx.Release.Namespace .ctx.Release.Name .group.name -}}
{{- end -}}
{{- end -}}

{{/*
corral.groups.wakeSource: what shows KEDA the requests for a group it has scaled to zero:
"standby" (the chart's standby pod, behind SMG), "epp" (the inference gateway's flow-control queue,
gateway.kind gatewayAPI) or "" (nothing the chart runs: autoscaling.query must see them).
Usage: {{ include "corral.groups.wakeSource" (dict "ctx" $ "group" $g) }}
*/}}
{{- define "corral.groups.wakeSource" -}}
{{- $as := .group.values.autoscaling -}}
{{- if and $as.enabled (eq $as.kind "keda") (eq (int $as.minReplicas) 0) -}}
{{- if and (eq .ctx.Values.gateway.kind "smg") .ctx.Values.scaleFromZero.enabled -}}
standby
{{- else if eq .ctx.Values.gateway.kind "gatewayAPI" -}}
epp
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
corral.groups.s3Dir: the cache directory of an s3:// model: models/s3/<bucket>/<prefix>/<revision>,
the revision "pinned-" and a hash of the pins (another pin set is another directory), else "unpinned".
Usage: {{ include "corral.groups.s3Dir" (dict "url" "s3://bucket/prefix" "pins" $pins) }}
*/}}
{{- define "corral.groups.s3Dir" -}}
{{- $pins := .pins | default dict -}}
{{- $rev := ternary (printf "pinned-%s" (toJson $pins | sha256sum | trunc 12)) "unpinned" (gt (len $pins) 0) -}}
{{- printf "models/s3/%s/%s" (trimSuffix "/" .url | trimPrefix "s3://") $rev -}}
{{- end -}}
