{{- define "myapp.gate" -}}{{ .Release.Name }}-preflight{{- end }}
{{- define "myapp.hook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded,hook-failed
{{- end }}
