{{/*
corral.engine.args: the engine's arguments as a YAML list: model, bind address, port, served
names, revision, parallelism and settings through the preset's flags, the LoRA adapters (one
name=path word each after the preset's modules flag), then fixedArgs, extraArgs.
Single values are passed as --flag=value; a multi-name served-name flag takes separate words.
In a LeaderWorkerSet the preset's multiNode leaderArgs or workerArgs follow.
Usage: {{ include "corral.engine.args" (dict "group" $g "role" "") }} (nothing when there are none)
*/}}
{{- define "corral.engine.args" -}}
{{- $role := .role -}}
{{- with .group -}}
{{- $p := .preset -}}
{{- $f := $p.flags -}}
{{- $v := .values -}}
{{- $s := $v.settings -}}
{{- $args := list -}}
{{- if eq $p.modelArg.style "positional" -}}
{{- $args = append $args .model.ref -}}
{{- else if eq $p.modelArg.style "flag" -}}
{{- $args = append $args (printf "%s=%s" $p.modelArg.flag .model.ref) -}}
{{- end -}}
{{- with $f.host }}{{ $args = append $args (printf "%s=0.0.0.0" .) }}{{ end -}}
{{- with $f.port }}{{ $args = append $args (printf "%s=%d" . (int $p.port)) }}{{ end -}}
{{- if and $f.servedName (ne $p.servedNames "none") -}}
{{- if eq $p.servedNames "multiple" -}}
{{- $args = concat $args (list $f.servedName) .servedNames -}}
{{- else -}}
{{- $args = append $args (printf "%s=%s" $f.servedName .servedName) -}}
{{- end -}}
{{- end -}}
{{- if and $v.revision $f.revision (eq .model.source "hf") (not .download) -}}
{{- $args = append $args (printf "%s=%s" $f.revision (toString $v.revision)) -}}
{{- end -}}
{{- with $f.tensor }}{{ $args = append $args (printf "%s=%d" . (int $v.parallelism.tensor)) }}{{ end -}}
{{- if and $f.pipeline (gt (int $v.parallelism.pipeline) 1) -}}
{{- $args = append $args (printf "%s=%d" $f.pipeline (int $v.parallelism.pipeline)) -}}
{{- end -}}
{{- if and $f.maxContextLength (not (kindIs "invalid" $s.maxContextLength)) -}}
{{- $args = append $args (printf "%s=%d" $f.maxContextLength (int $s.maxContextLength)) -}}
{{- end -}}
{{- if and $f.gpuMemoryFraction (not (kindIs "invalid" $s.gpuMemoryFraction)) -}}
{{- $args = append $args (printf "%s=%v" $f.gpuMemoryFraction $s.gpuMemoryFraction) -}}
{{- end -}}
{{- if and $f.dtype $s.dtype -}}
{{- $args = append $args (printf "%s=%s" $f.dtype $s.dtype) -}}
{{- end -}}
{{- if and $f.quantization $s.quantization -}}
{{- $args = append $args (printf "%s=%s" $f.quantization $s.quantization) -}}
{{- end -}}
{{- if and $f.trustRemoteCode $s.trustRemoteCode -}}
{{- $args = append $args $f.trustRemoteCode -}}
{{- end -}}
{{- $lora := $p.lora | default dict -}}
{{- if and .adapters $lora.enable -}}
{{- $args = concat $args (list $lora.enable $lora.modules) -}}
{{- range .adapters }}{{ $args = append $args (printf "%s=%s" .name .ref) }}{{ end -}}
{{- if not (kindIs "invalid" $v.lora.maxRank) -}}
{{- $args = append $args (printf "%s=%d" $lora.maxRank (int $v.lora.maxRank)) -}}
{{- end -}}
{{- if not (kindIs "invalid" $v.lora.maxLoras) -}}
{{- $args = append $args (printf "%s=%d" $lora.maxLoras (int $v.lora.maxLoras)) -}}
{{- end -}}
{{- end -}}
{{- $args = concat $args (.prefixCaching.args | default list) -}}
{{- with $p.configFile -}}
{{- $args = append $args (printf "%s=/etc/corral/engine/config.yaml" .flag) -}}
{{- end -}}
{{- $args = concat $args ($p.fixedArgs | default list) -}}
{{- if $role -}}
{{- $args = concat $args (index ($p.multiNode | default dict) (printf "%sArgs" $role) | default list) -}}
{{- end -}}
{{- $args = concat $args ($v.extraArgs | default list) -}}
{{- with $args }}{{ toYaml . }}{{ end -}}
{{- end -}}
{{- end -}}

{{/*
corral.engine.env: the engine container's env as a YAML list: cache location, offline mode,
the Hugging Face token (secretKeyRef only), the engine's startup timeout, preset and
prefix-caching env, CORRAL_* for custom engines, then the group's own env (which wins).
Usage: {{ include "corral.engine.env" (dict "ctx" $ "group" $g) }} (nothing when there is none)
*/}}
{{- define "corral.engine.env" -}}
{{- $g := .group -}}
{{- $v := $g.values -}}
{{- $p := $g.preset -}}
{{- $env := include "corral.engine.hfEnv" . | fromYamlArray -}}
{{- if $g.download -}}
{{- $env = append $env (dict "name" "HF_HUB_OFFLINE" "value" "1") -}}
{{- end -}}
{{- with $p.startupTimeoutEnv -}}
{{- $env = append $env (dict "name" . "value" (toString (int $v.probes.startupTimeoutSeconds))) -}}
{{- end -}}
{{- $env = concat $env ($p.env | default list) -}}
{{- range $name, $value := $g.prefixCaching.env | default dict -}}
{{- $env = append $env (dict "name" $name "value" (toString $value)) -}}
{{- end -}}
{{- if gt (int $v.nodes) 1 -}}
{{- $env = append $env (dict "name" "CORRAL_GPUS_PER_NODE" "value" (toString (int $v.gpus.count))) -}}
{{- end -}}
{{- if eq $p.engine "custom" -}}
{{- $env = concat $env (list
      (dict "name" "CORRAL_MODEL" "value" $g.model.ref)
      (dict "name" "CORRAL_SERVED_NAME" "value" $g.servedName)
      (dict "name" "CORRAL_PORT" "value" (toString (int $p.port)))) -}}
{{- end -}}
{{- with concat $env ($v.env | default list) }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/*
corral.engine.hfEnv: HF_HOME inside the cache and HF_TOKEN from its Secret, shared by the engine
and the download container.
Usage: {{ include "corral.engine.hfEnv" (dict "ctx" $ "group" $g) | fromYamlArray }}
*/}}
{{- define "corral.engine.hfEnv" -}}
{{- $v := .group.values -}}
{{- $env := list -}}
{{- if ne $v.cache.type "none" -}}
{{- $env = append $env (dict "name" "HF_HOME" "value" (printf "%s/huggingface" (trimSuffix "/" $v.cache.mountPath))) -}}
{{- end -}}
{{- with include "corral.names.hfTokenSecret" .ctx -}}
{{- $ref := dict "name" . "key" $.ctx.Values.huggingface.token.secretKey -}}
{{- $env = append $env (dict "name" "HF_TOKEN" "valueFrom" (dict "secretKeyRef" $ref)) -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}
