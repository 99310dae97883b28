{{/*
Names. nodelb runs once per cluster (cluster-wide CRDs and RBAC, one operator for all nodes), so
the objects carry fixed names: the agents dial the Service "nodelb-operator", whose name is also in
the operator's certificate, and the operator accepts tokens of the ServiceAccount "nodelb-agent".
*/}}
{{- define "nodelb.operatorName" -}}nodelb-operator{{- end }}
{{- define "nodelb.agentName" -}}nodelb-agent{{- end }}

{{/* The address the agents dial: the operator's Service in the release namespace. */}}
{{- define "nodelb.operatorAddress" -}}
{{ include "nodelb.operatorName" . }}.{{ .Release.Namespace }}.svc:{{ .Values.operator.grpc.port }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "nodelb.labels" -}}
app.kubernetes.io/name: nodelb
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select one component's pods: "operator" or "agent". Never change on upgrade. */}}
{{- define "nodelb.selectorLabels" -}}
app.kubernetes.io/name: nodelb
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* An image reference: repository, then "@digest" if set, else ":tag" (the chart's appVersion by default). */}}
{{- define "nodelb.image" -}}
{{- if .image.digest -}}
{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{ .image.repository }}:{{ .image.tag | default .root.Chart.AppVersion }}
{{- end -}}
{{- end }}
