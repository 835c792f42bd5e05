{{/* Names are cut at 63 characters: Kubernetes names (DNS labels) allow no more. */}}
{{- define "podium.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "podium.fullname" -}}
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

{{/* Component resources get "<fullname>-<component>", cut so the suffix survives. */}}
{{- define "podium.componentName" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
{{- printf "%s-%s" (include "podium.fullname" $root | trunc (int (sub 62 (len $component))) | trimSuffix "-") $component }}
{{- end }}

{{- define "podium.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "podium.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podium.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "podium.labels" -}}
helm.sh/chart: {{ include "podium.chart" . }}
{{ include "podium.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: podium
podium.dev/role: {{ .Values.role }}
{{- end }}

{{/* The API pods of this release: what the Service, HPA, PDB and ServiceMonitor select. */}}
{{- define "podium.apiSelectorLabels" -}}
{{ include "podium.selectorLabels" . }}
app.kubernetes.io/component: api
{{- end }}

{{- define "podium.workerSelectorLabels" -}}
{{ include "podium.selectorLabels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{- define "podium.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "podium.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "podium.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The worker runs for a region whose ingestion goes through Kafka. */}}
{{- define "podium.workerEnabled" -}}
{{- if and (eq .Values.role "region") .Values.kafka.bootstrap }}true{{ end }}
{{- end }}

{{/* The history writer runs on its own for a region that asked for it (validated: Cassandra set). */}}
{{- define "podium.historyWriterEnabled" -}}
{{- if and (eq .Values.role "region") .Values.historyWriter.enabled }}true{{ end }}
{{- end }}

{{- define "podium.historyWriterSelectorLabels" -}}
{{ include "podium.selectorLabels" . }}
app.kubernetes.io/component: history-writer
{{- end }}

{{/*
Cross-value rules the schema cannot state with a useful message. They fail every render, so
`helm install`, `helm template` and `helm lint` all stop here.
*/}}
{{- define "podium.validate" -}}
{{- if and (eq .Values.role "global") (or .Values.api.autoscaling.enabled (ne (int .Values.api.replicas) 1)) }}
{{- fail "role=global runs exactly one replica (it keeps region status and the per-board merge locks in process memory): set api.replicas=1 and api.autoscaling.enabled=false" }}
{{- end }}
{{- if and (eq .Values.role "global") .Values.kafka.bootstrap }}
{{- fail "kafka.bootstrap is a region setting: the global tier receives changes over HTTP from the regions" }}
{{- end }}
{{- if and .Values.api.autoscaling.enabled (gt (int .Values.api.autoscaling.minReplicas) (int .Values.api.autoscaling.maxReplicas)) }}
{{- fail (printf "api.autoscaling.minReplicas (%d) is above maxReplicas (%d)" (int .Values.api.autoscaling.minReplicas) (int .Values.api.autoscaling.maxReplicas)) }}
{{- end }}
{{- if and (include "podium.workerEnabled" .) (gt (int .Values.worker.replicas) (int .Values.kafka.scoresPartitions)) }}
{{- fail (printf "worker.replicas (%d) is above kafka.scoresPartitions (%d): the extra workers would own no partition" (int .Values.worker.replicas) (int .Values.kafka.scoresPartitions)) }}
{{- end }}
{{- if and (include "podium.historyWriterEnabled" .) (not .Values.cassandra.contactPoints) }}
{{- fail "historyWriter.enabled needs cassandra.contactPoints: the SQLite warm store is a file inside each pod, which a writer pod cannot reach" }}
{{- end }}
{{- if and .Values.redis.url .Values.redis.existingSecret }}
{{- fail "set one of redis.url and redis.existingSecret, not both" }}
{{- end }}
{{- end }}

{{/* Pod environment shared by the API and the worker: the ConfigMap, then Secret references. */}}
{{- define "podium.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "podium.fullname" . }}
{{- $secretEnv := list }}
{{- with .Values.redis.existingSecret }}
{{- $secretEnv = append $secretEnv (dict "env" "REDIS_URL" "ref" .) }}
{{- end }}
{{- $s := .Values.secrets }}
{{- $secretEnv = append $secretEnv (dict "env" "PODIUM_GAME_SERVER_KEYS" "ref" $s.gameServerKeys) }}
{{- $secretEnv = append $secretEnv (dict "env" "PODIUM_ADMIN_KEYS" "ref" $s.adminKeys) }}
{{- $secretEnv = append $secretEnv (dict "env" "PODIUM_JWT_SECRET" "ref" $s.jwtSecret) }}
{{- $secretEnv = append $secretEnv (dict "env" "PODIUM_JWT_PUBLIC_KEY" "ref" $s.jwtPublicKey) }}
{{- $secretEnv = append $secretEnv (dict "env" "PODIUM_REPLICATION__SECRET" "ref" $s.replicationSecret) }}
{{- $set := list }}
{{- range $secretEnv }}{{ if .ref.name }}{{ $set = append $set . }}{{ end }}{{ end }}
{{- if $set }}
env:
{{- range $set }}
  - name: {{ .env }}
    valueFrom:
      secretKeyRef:
        name: {{ .ref.name }}
        key: {{ .ref.key }}
{{- end }}
{{- end }}
{{- end }}

{{/* Writable paths under a read-only root filesystem: the data directory (also the working
directory, where Faust keeps its table data) and /tmp. */}}
{{- define "podium.volumeMounts" -}}
volumeMounts:
  - name: data
    mountPath: /var/lib/podium
  - name: tmp
    mountPath: /tmp
{{- end }}

{{- define "podium.volumes" -}}
volumes:
  - name: data
    emptyDir: {}
  - name: tmp
    emptyDir: {}
{{- end }}

{{/* Zone then node spread of one component's pods (labels: that component's selector). */}}
{{- define "podium.topologySpread" -}}
{{- $root := index . 0 }}
{{- $selector := index . 1 }}
{{- if $root.Values.topologySpread.enabled -}}
topologySpreadConstraints:
{{- range $root.Values.topologySpread.topologyKeys }}
  - maxSkew: {{ $root.Values.topologySpread.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: {{ $root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- $selector | nindent 8 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Scheduling and security settings shared by every pod of the release. */}}
{{- define "podium.podCommon" -}}
serviceAccountName: {{ include "podium.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The ingress of a pod that serves nothing but, with metrics.podMonitor, its metrics port. */}}
{{- define "podium.metricsIngress" -}}
{{- if .Values.metrics.podMonitor.enabled }}
ingress:
  - ports:
      - port: metrics
        protocol: TCP
    {{- if not .Values.networkPolicy.allowExternal }}
    {{- with .Values.networkPolicy.ingressFrom }}
    from:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- end }}
{{- end }}
{{- end }}
