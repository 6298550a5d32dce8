{{/* The managed namespace: where the IOC instances and iocmgr's Role live. */}}
{{- define "iocmgr.namespace" -}}
{{- .Values.namespace | default .Release.Namespace -}}
{{- end -}}

{{- define "iocmgr.prefix" -}}
{{- .Values.prefix | default (printf "%s:" (upper .Release.Name)) -}}
{{- end -}}

{{- define "iocmgr.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* Labels of every object. The selector labels of the ioc-instance chart
     (ioc, is_ioc) are refused: iocmgr listing itself would let an operator
     STOP the manager from its own screen, with no way back over CA. */}}
{{- define "iocmgr.labels" -}}
{{- range $k, $v := .Values.labels }}
{{- if or (eq $k "ioc") (eq $k "is_ioc") }}
{{- fail (printf "labels.%s: iocmgr must not carry the IOC instance selector label %s, or it would manage itself" $k $k) }}
{{- end }}
{{- end -}}
app.kubernetes.io/name: iocmgr
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
