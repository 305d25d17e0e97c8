{{/* Names and labels, one definition each (the way the Prometheus community charts do it). */}}

{{- define "mlscale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's name prefix: the release name, plus the chart name unless it already holds it. */}}
{{- define "mlscale.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mlscale.dispatcher.fullname" -}}
{{- printf "%s-dispatcher" (include "mlscale.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mlscale.inference.fullname" -}}
{{- printf "%s-inference" (include "mlscale.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mlscale.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "mlscale.labels" -}}
helm.sh/chart: {{ include "mlscale.chart" . }}
app.kubernetes.io/name: {{ include "mlscale.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlscale
{{- end }}

{{/* Selector labels of one component; call with (dict "root" $ "component" "dispatcher"). */}}
{{- define "mlscale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlscale.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* An image reference; call with (dict "root" $ "repository" "mlscale-inference"). */}}
{{- define "mlscale.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag }}
{{- if .root.Values.image.registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .repository $tag }}
{{- else }}
{{- printf "%s:%s" .repository $tag }}
{{- end }}
{{- end }}

{{/* The HPA's API: autoscaling/v2 from Kubernetes 1.23, autoscaling/v2beta2 before it. */}}
{{- define "mlscale.hpa.apiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "autoscaling/v2") (semverCompare ">=1.23-0" .Capabilities.KubeVersion.Version) }}
{{- print "autoscaling/v2" }}
{{- else }}
{{- print "autoscaling/v2beta2" }}
{{- end }}
{{- end }}

{{/* ServiceMonitors when the operator comes with this release or its API is already there. */}}
{{- define "mlscale.serviceMonitors" -}}
{{- if and .Values.monitoring.serviceMonitor.enabled (or (index .Values "kube-prometheus-stack" "enabled") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) }}
{{- print "true" }}
{{- end }}
{{- end }}

{{/* The preStop hook: wait while the endpoints controller removes the pod, then let SIGTERM in. */}}
{{- define "mlscale.preStop" -}}
lifecycle:
  preStop:
    exec:
      command: ["sleep", {{ . | quote }}]
{{- end }}

{{/*
A probe from values ({path, periodSeconds, timeoutSeconds, failureThreshold, successThreshold}),
on the container's "http" port. The local backend reads the same values.
*/}}
{{- define "mlscale.probe" -}}
httpGet:
  path: {{ .path }}
  port: http
{{- range $key := list "periodSeconds" "timeoutSeconds" "failureThreshold" "successThreshold" }}
{{- if hasKey $ $key }}
{{ $key }}: {{ index $ $key }}
{{- end }}
{{- end }}
{{- end }}

{{/* The autoscaling policy, checked: the chart renders cpu (an HPA) and queue (a ScaledObject). */}}
{{- define "mlscale.policy" -}}
{{- $policy := .Values.autoscaling.policy | default "cpu" }}
{{- if not (has $policy (list "cpu" "queue")) }}
{{- fail (printf "autoscaling.policy %q: the chart renders cpu (an HPA) and queue (a KEDA ScaledObject); kpa and oracle run on the local backend only" $policy) }}
{{- end }}
{{- $policy }}
{{- end }}

{{/* The inference image for the engine: keras runs TensorFlow's image, litert and onnx their own. */}}
{{- define "mlscale.inference.repository" -}}
{{- $engine := .Values.inference.engine -}}
{{- if eq $engine "keras" -}}
{{- .Values.inference.image.repository -}}
{{- else if has $engine (list "litert" "onnx") -}}
{{- printf "%s-%s" .Values.inference.image.repository $engine -}}
{{- else -}}
{{- fail (printf "inference.engine must be keras, litert or onnx, not %q" $engine) -}}
{{- end -}}
{{- end -}}

{{/* The in-cluster Prometheus the queue policy queries: the chart's own (monitoring.prometheus), or
kube-prometheus-stack's (the operator's prometheus-operated Service). */}}
{{- define "mlscale.prometheusAddress" -}}
{{- if .Values.monitoring.prometheus.enabled }}
{{- printf "http://%s-prometheus.%s.svc:%v" (include "mlscale.fullname" .) .Release.Namespace .Values.monitoring.prometheus.service.port }}
{{- else }}
{{- printf "http://prometheus-operated.%s.svc:9090" .Release.Namespace }}
{{- end }}
{{- end }}
