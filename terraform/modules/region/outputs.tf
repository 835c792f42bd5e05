output "release_name" {
  description = "The Helm release name."
  value       = helm_release.this.name
}

output "namespace" {
  description = "The namespace the region runs in."
  value       = local.namespace
}

output "secret_name" {
  description = "The Secret holding the region's credentials."
  value       = kubernetes_secret_v1.this.metadata[0].name
}

output "service_url" {
  description = "The region's API inside its cluster (GraphQL at /graphql, ingestion at /v1/scores)."
  value       = "http://${var.release.release_name}.${local.namespace}.svc"
}

output "status" {
  description = "The Helm release status (deployed, failed, …)."
  value       = helm_release.this.status
}
