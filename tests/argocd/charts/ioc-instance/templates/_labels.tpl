{{/* Labels of the pods (and of the StatefulSet): as ioc-instance sets them. */}}
{{- define "ioc-instance.podLabels" -}}
app: {{ .Release.Name | quote }}
ioc: "true"
location: {{ .Values.global.location | quote }}
domain: {{ .Values.global.domain | quote }}
{{- end }}

{{/* The StatefulSet's: what ec and iocmgr select and show. */}}
{{- define "ioc-instance.labels" -}}
{{ include "ioc-instance.podLabels" . }}
enabled: {{ include "ioc-instance.enabled" . | quote }}
{{- with .Values.description }}
description: {{ . | quote }}
{{- end }}
{{- with .Values.global.commitHash }}
commitHash: {{ . | quote }}
{{- end }}
{{- end }}

{{/* global.enabled as "true"/"false": a Helm parameter arrives as a bool or,
     forced to a string, as "False"; sprig's default would turn false into true. */}}
{{- define "ioc-instance.enabled" -}}
{{- if eq (lower (toString .Values.global.enabled)) "false" }}false{{ else }}true{{ end }}
{{- end }}
