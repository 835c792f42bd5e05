variable "release" {
  description = "The topology module's `global` output (release_name, namespace, secret_name, secret_keys, helm_values)."
  type = object({
    release_name = string
    namespace    = string
    secret_name  = string
    secret_keys  = map(string)
    helm_values  = any
  })

  validation {
    condition     = try(var.release.helm_values.role, "") == "global"
    error_message = "release must be the topology module's `global` output (helm_values.role = \"global\")."
  }
}

variable "chart" {
  description = "The podium chart: a local path or a chart reference. Null: the chart in this repository (helm/podium)."
  type        = string
  default     = null
}

variable "chart_version" {
  description = "Chart version when `chart` names a repository chart; null for a local path."
  type        = string
  default     = null
}

variable "create_namespace" {
  description = "Create the release's namespace (false: it must exist)."
  type        = bool
  default     = true
}

variable "redis_url" {
  description = "REDIS_URL of the global tier's own Redis (redis://, rediss:// or redis+cluster://), not shared with any region."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^(redis|rediss|redis\\+cluster)://", var.redis_url))
    error_message = "redis_url must start with redis://, rediss:// or redis+cluster://."
  }
}

variable "admin_keys" {
  description = "Admin API keys (PODIUM_ADMIN_KEYS), e.g. for the conflict log."
  type        = list(string)
  sensitive   = true

  validation {
    condition     = length(var.admin_keys) > 0 && alltrue([for k in var.admin_keys : length(k) >= 16])
    error_message = "admin_keys needs at least one key of at least 16 characters."
  }
}

variable "replication_secret" {
  description = "HMAC secret the regions sign their changes with (PODIUM_REPLICATION__SECRET)."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.replication_secret) >= 32
    error_message = "replication_secret must be at least 32 characters."
  }
}

variable "values_overrides" {
  description = "Chart values merged over the topology's. Helm checks them against the chart's values.schema.json."
  type        = any
  default     = {}
}

variable "atomic" {
  description = "Roll the release back when an install or upgrade fails."
  type        = bool
  default     = true
}

variable "timeout_s" {
  description = "Seconds Helm waits for the release's resources to become ready."
  type        = number
  default     = 600

  validation {
    condition     = var.timeout_s >= 60 && var.timeout_s <= 3600
    error_message = "timeout_s must be between 60 and 3600."
  }
}
