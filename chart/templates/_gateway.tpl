{{/*
corral.gateway.enabled: "true" when the chart runs Shepherd Model Gateway.
Usage: {{ if include "corral.gateway.enabled" $ }}
*/}}
{{- define "corral.gateway.enabled" -}}
{{- if eq .Values.gateway.kind "smg" -}}true{{- end -}}
{{- end -}}

{{/*
corral.gateway.apiKeySecret: the Secret holding the client API key ("" for an open gateway).
Usage: {{ include "corral.gateway.apiKeySecret" $ }}
*/}}
{{- define "corral.gateway.apiKeySecret" -}}
{{- $key := .Values.gateway.apiKey -}}
{{- if $key.existingSecret -}}
{{- $key.existingSecret -}}
{{- else if $key.value -}}
{{- printf "%s-gateway-api-key" (include "corral.names.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
corral.gateway.args: SMG's arguments. It discovers this release's serving pods in the release
namespace (workers of multi-node groups carry no corral.dev/serving label), takes each pod's model
id from its corral.dev/model label and its port from the smg.ai/worker-ports annotation, and maps
every alias to its canonical name. The API key and the tenants' keys come from env vars set from
Secrets, never as literal text. Admission limits always; the mesh (peers found by the gateway pods'
labels, each advertising its pod IP) with more than one replica.
Usage: {{ include "corral.gateway.args" $ | fromYamlArray }}
*/}}
{{- define "corral.gateway.args" -}}
{{- $gw := .Values.gateway -}}
{{- $args := list
      "--host=0.0.0.0" (printf "--port=%d" (int $gw.port))
      "--prometheus-host=0.0.0.0" (printf "--prometheus-port=%d" (int $gw.metricsPort))
      (printf "--policy=%s" $gw.policy)
      "--service-discovery" "--selector"
      (printf "app.kubernetes.io/instance=%s" .Release.Name) "corral.dev/serving=true"
      (printf "--service-discovery-namespace=%s" .Release.Namespace)
      "--model-id-from=label:corral.dev/model"
      "--disable-tokenizer-autoload"
      (printf "--request-timeout-secs=%d" (int $gw.requestTimeoutSeconds)) -}}
{{- include "corral.groups.all" $ -}}
{{- range $g := $.corralGroups -}}
{{- range $g.values.aliases | default list -}}
{{- $args = append $args (printf "--model-alias=%s=%s" . $g.servedName) -}}
{{- end -}}
{{- end -}}
{{- if gt (int $gw.retries.maxRetries) 0 -}}
{{- $args = concat $args (list (printf "--retry-max-retries=%d" (add1 (int $gw.retries.maxRetries))) (printf "--retry-initial-backoff-ms=%d" (int $gw.retries.initialBackoffMs)) (printf "--retry-max-backoff-ms=%d" (int $gw.retries.maxBackoffMs))) -}}
{{- else -}}
{{- $args = append $args "--disable-retries" -}}
{{- end -}}
{{- $cb := $gw.circuitBreaker -}}
{{- if $cb.enabled -}}
{{- $args = concat $args (list (printf "--cb-failure-threshold=%d" (int $cb.failureThreshold)) (printf "--cb-success-threshold=%d" (int $cb.successThreshold)) (printf "--cb-timeout-duration-secs=%d" (int $cb.timeoutSeconds))) -}}
{{- else -}}
{{- $args = append $args "--disable-circuit-breaker" -}}
{{- end -}}
{{- $hc := $gw.healthCheck -}}
{{- $args = concat $args (list (printf "--health-check-interval-secs=%d" (int $hc.intervalSeconds)) (printf "--health-check-timeout-secs=%d" (int $hc.timeoutSeconds)) (printf "--health-failure-threshold=%d" (int $hc.failureThreshold)) (printf "--health-success-threshold=%d" (int $hc.successThreshold))) -}}
{{- if include "corral.gateway.apiKeySecret" . -}}
{{- $args = append $args "--api-key=$(SMG_API_KEY)" -}}
{{- end -}}
{{- range $i, $tenant := $gw.tenants -}}
{{- $args = append $args (printf "--tenant-api-key=%s:$(SMG_TENANT_KEY_%d)" $tenant.name $i) -}}
{{- end -}}
{{- $ad := $gw.admission -}}
{{- $args = concat $args (list (printf "--max-concurrent-requests=%d" (int $ad.maxConcurrentRequests)) (printf "--queue-size=%d" (int $ad.queueSize)) (printf "--queue-timeout-secs=%d" (int $ad.queueTimeoutSeconds))) -}}
{{- if gt (int $ad.ratePerSecond) 0 -}}
{{- $args = append $args (printf "--rate-limit-tokens-per-second=%d" (int $ad.ratePerSecond)) -}}
{{- end -}}
{{- if include "corral.gateway.mesh" . -}}
{{- $args = concat $args (list "--enable-mesh" "--mesh-host=0.0.0.0" "--mesh-advertise-host=$(POD_IP)" (printf "--mesh-port=%d" (int $gw.mesh.port)) "--mesh-server-name=$(POD_NAME)" "--router-selector" (printf "app.kubernetes.io/instance=%s" .Release.Name) "app.kubernetes.io/component=gateway") -}}
{{- end -}}
{{- toYaml (concat $args ($gw.extraArgs | default list)) -}}
{{- end -}}

{{/*
corral.gateway.mesh: "true" when the gateway replicas share routing state over SMG's mesh
(mesh.enabled and more than one replica).
Usage: {{ if include "corral.gateway.mesh" $ }}
*/}}
{{- define "corral.gateway.mesh" -}}
{{- if and .Values.gateway.mesh.enabled (gt (int .Values.gateway.replicas) 1) -}}true{{- end -}}
{{- end -}}
