{{/* Names ------------------------------------------------------------------------------------ */}}

{{- define "risk-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Kept short: the StatefulSet's pods (<fullname>-scorer-N) and their claims must fit 63 chars. */}}
{{- define "risk-hub.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "risk-hub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "risk-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "risk-hub.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels: call with (dict "ctx" $ "component" "scorer") ----------------------------------- */}}

{{- define "risk-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "risk-hub.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "risk-hub.labels" -}}
helm.sh/chart: {{ include "risk-hub.chart" .ctx }}
{{ include "risk-hub.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: risk-hub
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image ------------------------------------------------------------------------------------ */}}

{{- define "risk-hub.image" -}}
{{- $img := .Values.image -}}
{{- $repo := $img.repository -}}
{{- if $img.registry }}{{ $repo = printf "%s/%s" $img.registry $img.repository }}{{ end -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Configuration ---------------------------------------------------------------------------- */}}

{{- define "risk-hub.tlsMountPath" -}}/etc/risk-hub/kafka-tls{{- end -}}
{{- define "risk-hub.stateMountPath" -}}/var/lib/risk-hub{{- end -}}

{{/* The configuration file (src/config/schema.ts): .Values.config plus the keys the chart owns. */}}
{{- define "risk-hub.configData" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $kafka := dict "brokers" .Values.kafka.brokers "clientId" .Values.kafka.clientId -}}
{{- $tls := .Values.kafka.tls -}}
{{- if $tls.enabled -}}
{{- $ssl := dict "rejectUnauthorized" $tls.rejectUnauthorized -}}
{{- if $tls.existingSecret -}}
{{- if $tls.caKey }}{{ $_ := set $ssl "caFile" (printf "%s/%s" (include "risk-hub.tlsMountPath" .) $tls.caKey) }}{{ end -}}
{{- if $tls.certKey }}{{ $_ := set $ssl "certFile" (printf "%s/%s" (include "risk-hub.tlsMountPath" .) $tls.certKey) }}{{ end -}}
{{- if $tls.keyKey }}{{ $_ := set $ssl "keyFile" (printf "%s/%s" (include "risk-hub.tlsMountPath" .) $tls.keyKey) }}{{ end -}}
{{- end -}}
{{- $_ := set $kafka "ssl" $ssl -}}
{{- else -}}
{{- $_ := set $kafka "ssl" false -}}
{{- end -}}
{{- if .Values.kafka.sasl.enabled -}}
{{- $_ := set $kafka "sasl" (dict "mechanism" .Values.kafka.sasl.mechanism "username" (required "kafka.sasl.username is required when kafka.sasl.enabled" .Values.kafka.sasl.username)) -}}
{{- end -}}
{{- $registry := dict "url" .Values.schemaRegistry.url -}}
{{- if .Values.schemaRegistry.username }}{{ $_ := set $registry "username" .Values.schemaRegistry.username }}{{ end -}}
{{- $scorer := dict "stateDir" (printf "%s/state" (include "risk-hub.stateMountPath" .)) -}}
{{- $owned := dict "applicationId" .Values.applicationId "kafka" $kafka "schemaRegistry" $registry "scorer" $scorer "http" (dict "host" "0.0.0.0" "port" (int .Values.http.port)) -}}
{{- $merged := mergeOverwrite $cfg $owned -}}
{{- /* The scorer must finish its shutdown before the kubelet's SIGKILL. */ -}}
{{- $shutdownMs := 25000 -}}
{{- if hasKey $merged.scorer "shutdownTimeoutMs" }}{{ $shutdownMs = int $merged.scorer.shutdownTimeoutMs }}{{ end -}}
{{- if ge (add (div $shutdownMs 1000) 5) (int .Values.scorer.terminationGracePeriodSeconds) -}}
{{- fail (printf "scorer.terminationGracePeriodSeconds (%v) must exceed config.scorer.shutdownTimeoutMs/1000 (%v) by more than 5 seconds" .Values.scorer.terminationGracePeriodSeconds (div $shutdownMs 1000)) -}}
{{- end -}}
{{- toYaml $merged -}}
{{- end -}}

{{/* Pod pieces ------------------------------------------------------------------------------- */}}

{{- define "risk-hub.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "risk-hub.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{/* Environment shared by every container: the config file, Kafka and registry secrets. */}}
{{- define "risk-hub.env" -}}
- name: RISK_HUB_CONFIG
  value: /etc/risk-hub/config/config.yaml
- name: NODE_ENV
  value: production
{{- if .Values.nodeOptions }}
- name: NODE_OPTIONS
  value: {{ .Values.nodeOptions | quote }}
{{- end }}
{{- if .Values.kafka.sasl.enabled }}
- name: RISK_HUB_KAFKA__SASL__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.sasl.existingSecret is required when kafka.sasl.enabled" .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- if .Values.schemaRegistry.existingSecret }}
- name: RISK_HUB_SCHEMA_REGISTRY__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.schemaRegistry.existingSecret }}
      key: {{ .Values.schemaRegistry.passwordKey }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "risk-hub.volumeMounts" -}}
- name: config
  mountPath: /etc/risk-hub/config
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: {{ include "risk-hub.tlsMountPath" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* Call with (dict "ctx" $ "configMap" "<name>") */}}
{{- define "risk-hub.volumes" -}}
- name: config
  configMap:
    name: {{ .configMap }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if and .ctx.Values.kafka.tls.enabled .ctx.Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .ctx.Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* Probes: call with (dict "path" "/readyz" "p" .Values.scorer.probes.startup) */}}
{{- define "risk-hub.probe" -}}
httpGet:
  path: {{ .path }}
  port: http
periodSeconds: {{ .p.periodSeconds }}
timeoutSeconds: {{ .p.timeoutSeconds }}
failureThreshold: {{ .p.failureThreshold }}
{{- end -}}

{{/* PromQL selector for this release's targets (job = the scraped Service's name). */}}
{{- define "risk-hub.promSelector" -}}
namespace="{{ .Release.Namespace }}",job=~"{{ include "risk-hub.fullname" . }}-(scorer|notifier-.+)"
{{- end -}}
