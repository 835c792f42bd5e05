variable "release" {
  description = "This region's entry of the topology module's `regions` output (release_name, namespace, secret_name, secret_keys, helm_values, …)."
  type = object({
    release_name = string
    namespace    = string
    secret_name  = string
    secret_keys  = map(string)
    helm_values  = any
  })

  validation {
    condition     = try(var.release.helm_values.role, "") == "region"
    error_message = "release must be a region from the topology module's `regions` output (helm_values.role = \"region\")."
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
  description = "REDIS_URL of this region's own Redis (redis://, rediss:// or redis+cluster://). Regions and the global tier must not share one: Podium's keys carry no region prefix."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^(redis|rediss|redis\\+cluster)://", var.redis_url))
    error_message = "redis_url must start with redis://, rediss:// or redis+cluster://."
  }
}

variable "game_server_keys" {
  description = "Game-server HMAC keys: key id -> secret (PODIUM_GAME_SERVER_KEYS)."
  type        = map(string)
  sensitive   = true

  validation {
    condition     = length(var.game_server_keys) > 0 && alltrue([for s in values(var.game_server_keys) : length(s) >= 16])
    error_message = "game_server_keys needs at least one key, each secret at least 16 characters."
  }
}

variable "admin_keys" {
  description = "Admin API keys (PODIUM_ADMIN_KEYS)."
  type        = list(string)
  sensitive   = true

  validation {
    condition     = length(var.admin_keys) > 0 && alltrue([for k in var.admin_keys : length(k) >= 16])
    error_message = "admin_keys needs at least one key of at least 16 characters."
  }
}

variable "replication_secret" {
  description = "HMAC secret shared with the global tier (PODIUM_REPLICATION__SECRET)."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.replication_secret) >= 32
    error_message = "replication_secret must be at least 32 characters."
  }
}

variable "jwt_secret" {
  description = "HMAC key for HS* player JWTs (PODIUM_JWT_SECRET); empty: unset."
  type        = string
  sensitive   = true
  default     = ""
}

variable "jwt_public_key" {
  description = "PEM public key for RS*/ES* player JWTs (PODIUM_JWT_PUBLIC_KEY); empty: unset."
  type        = string
  sensitive   = true
  default     = ""
}

variable "values_overrides" {
  description = "Chart values merged over the topology's (e.g. nodeSelector, networkPolicy). Helm checks them against the chart's values.schema.json."
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
