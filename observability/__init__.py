"""Monitoring as code: the Prometheus scrape configuration of a running stack and the Grafana
dashboards (rendered to infra/grafana/dashboards/*.json, which deployments mount)."""
