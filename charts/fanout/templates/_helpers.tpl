{{/* The chart's name, at most 63 characters. */}}
{{- define "fanout.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name, at most 63 characters; components append -gateway / -publisher. */}}
{{- define "fanout.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fanout.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "fanout.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "fanout.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fanout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fanout.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "fanout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fanout.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The checks across values that the schema cannot make, as the server makes them at start: values
that would make every pod exit at once fail the render instead, naming the values.
*/}}
{{- define "fanout.checkValues" -}}
{{- $c := .Values.config -}}
{{- if and (ne (toString $c.retryJitterMs) "") (gt (int64 $c.retryJitterMs) (int64 $c.retryMs)) -}}
{{- fail (printf "config.retryJitterMs (%d) must be at most config.retryMs (%d)" (int64 $c.retryJitterMs) (int64 $c.retryMs)) -}}
{{- end -}}
{{- if and (ne (toString $c.shutdownSpreadMs) "") (gt (int64 $c.shutdownSpreadMs) 0) (ge (int64 $c.shutdownSpreadMs) (int64 $c.shutdownGraceMs)) -}}
{{- fail (printf "config.shutdownSpreadMs (%d) must be below config.shutdownGraceMs (%d), which must leave the last streams time to close" (int64 $c.shutdownSpreadMs) (int64 $c.shutdownGraceMs)) -}}
{{- end -}}
{{- if and $c.maxUnsentBytes (lt (int64 $c.maxUnsentBytes) (int64 $c.clientBufferBytes)) -}}
{{- fail (printf "config.maxUnsentBytes (%d) must be at least config.clientBufferBytes (%d), what one stream may hold" (int64 $c.maxUnsentBytes) (int64 $c.clientBufferBytes)) -}}
{{- end -}}
{{- end -}}

{{/*
The environment both roles share: Redis and the JWT secret from Secrets, the FANOUT_* settings.
A redis+cluster:// URL in the Secret selects Redis Cluster; redis.sentinel.enabled a Sentinel-managed master.
*/}}
{{- define "fanout.env" -}}
{{- include "fanout.checkValues" . }}
{{- $sentinel := .Values.redis.sentinel | default dict }}
{{- if $sentinel.enabled }}
- name: REDIS_SENTINELS
  value: {{ join "," $sentinel.sentinels | quote }}
- name: REDIS_SENTINEL_MASTER
  value: {{ $sentinel.masterName | quote }}
{{- with $sentinel.username }}
- name: REDIS_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- with $sentinel.passwordKey }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.redis.existingSecret }}
      key: {{ . }}
{{- end }}
{{- with $sentinel.sentinelPasswordKey }}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.redis.existingSecret }}
      key: {{ . }}
{{- end }}
{{- if $sentinel.tls }}
- name: REDIS_TLS
  value: "true"
{{- end }}
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.secretKey }}
{{- end }}
- name: FANOUT_AUTH
  value: jwt
{{- if .Values.auth.jwt.existingSecret }}
- name: FANOUT_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.jwt.existingSecret }}
      key: {{ .Values.auth.jwt.secretKey }}
      {{- if .Values.auth.jwt.jwksUrl }}
      # With a JWKS URL the secret is optional: when the Secret exists, HS256 tokens are taken too.
      optional: true
      {{- end }}
{{- end }}
{{- with .Values.auth.jwt.jwksUrl }}
- name: FANOUT_JWKS_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.auth.jwt.issuer }}
- name: FANOUT_JWT_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with .Values.auth.jwt.audience }}
- name: FANOUT_JWT_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- with .Values.auth.jwt.maxTtlSeconds }}
- name: FANOUT_JWT_MAX_TTL_S
  value: {{ . | int64 | quote }}
{{- end }}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: FANOUT_HEARTBEAT_MS
  value: {{ .Values.config.heartbeatMs | int64 | quote }}
- name: FANOUT_IDLE_TIMEOUT_MS
  value: {{ .Values.config.idleTimeoutMs | int64 | quote }}
- name: FANOUT_RETRY_MS
  value: {{ .Values.config.retryMs | int64 | quote }}
{{- if ne (toString .Values.config.retryJitterMs) "" }}
- name: FANOUT_RETRY_JITTER_MS
  value: {{ .Values.config.retryJitterMs | int64 | quote }}
{{- end }}
- name: FANOUT_CLIENT_BUFFER_BYTES
  value: {{ .Values.config.clientBufferBytes | int64 | quote }}
{{- with .Values.config.maxUnsentBytes }}
- name: FANOUT_MAX_UNSENT_BYTES
  value: {{ . | int64 | quote }}
{{- end }}
{{- if ne (toString .Values.config.conflateThresholdBytes) "" }}
- name: FANOUT_CONFLATE_THRESHOLD_BYTES
  value: {{ .Values.config.conflateThresholdBytes | int64 | quote }}
{{- end }}
- name: FANOUT_COMPRESSION
  value: {{ .Values.config.compression | quote }}
- name: FANOUT_HISTORY_MAXLEN
  value: {{ .Values.config.historyMaxLen | int64 | quote }}
- name: FANOUT_HISTORY_TTL_S
  value: {{ .Values.config.historyTtlSeconds | int64 | quote }}
- name: FANOUT_SUBJECT_IDLE_TTL_S
  value: {{ .Values.config.subjectIdleTtlSeconds | int64 | quote }}
- name: FANOUT_SHUTDOWN_GRACE_MS
  value: {{ .Values.config.shutdownGraceMs | int64 | quote }}
{{- if ne (toString .Values.config.shutdownSpreadMs) "" }}
- name: FANOUT_SHUTDOWN_SPREAD_MS
  value: {{ .Values.config.shutdownSpreadMs | int64 | quote }}
{{- end }}
- name: FANOUT_MAX_CONNECTIONS
  value: {{ .Values.config.maxConnections | int64 | quote }}
- name: FANOUT_MAX_CONNECTIONS_PER_TENANT
  value: {{ .Values.config.maxConnectionsPerTenant | int64 | quote }}
{{- with .Values.config.maxIdleSockets }}
- name: FANOUT_MAX_IDLE_SOCKETS
  value: {{ . | int64 | quote }}
{{- end }}
{{- with .Values.config.maxBodyBytesInFlight }}
- name: FANOUT_MAX_BODY_BYTES_IN_FLIGHT
  value: {{ . | int64 | quote }}
{{- end }}
{{- with .Values.config.maxAnswerBytesInFlight }}
- name: FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT
  value: {{ . | int64 | quote }}
{{- end }}
{{- with .Values.config.tenantMaxSubjects }}
- name: FANOUT_TENANT_MAX_SUBJECTS
  value: {{ . | int64 | quote }}
{{- end }}
{{- with .Values.config.maxRevocations }}
- name: FANOUT_MAX_REVOCATIONS
  value: {{ . | int64 | quote }}
{{- end }}
{{- with .Values.config.corsOrigins }}
- name: FANOUT_CORS_ORIGINS
  value: {{ . | quote }}
{{- end }}
{{- with .Values.archive }}
{{- if .bucket }}
- name: FANOUT_ARCHIVE_S3_BUCKET
  value: {{ .bucket | quote }}
{{- with .prefix }}
- name: FANOUT_ARCHIVE_S3_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- with .endpoint }}
- name: FANOUT_ARCHIVE_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .region }}
- name: FANOUT_ARCHIVE_S3_REGION
  value: {{ . | quote }}
{{- end }}
- name: FANOUT_ARCHIVE_S3_FORCE_PATH_STYLE
  value: {{ .forcePathStyle | quote }}
- name: FANOUT_ARCHIVE_KEEP_S
  value: {{ .keepSeconds | int64 | quote }}
- name: FANOUT_ARCHIVE_LEASE_MS
  value: {{ .leaseMs | int64 | quote }}
- name: FANOUT_ARCHIVE_CACHE_BYTES
  value: {{ .cacheBytes | int64 | quote }}
- name: FANOUT_ARCHIVE_MAX_OBJECT_BYTES
  value: {{ .maxObjectBytes | int64 | quote }}
{{- if .existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .accessKeyIdKey | quote }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .secretAccessKeyKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}
