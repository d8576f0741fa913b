"""The provisioned Prometheus datasource's fixed uid: every dashboard query names it."""

DATASOURCE_UID = "gwops-prometheus"
