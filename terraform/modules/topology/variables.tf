variable "name" {
  description = "Prefix of every release, namespace and Secret name (a DNS label)."
  type        = string
  default     = "podium"

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$", var.name))
    error_message = "name must be a DNS label of at most 20 characters (lowercase letters, digits, '-')."
  }
}

variable "image" {
  description = "The Podium image built from the repository's Dockerfile. A digest (sha256:…) pins it and wins over the tag."
  type = object({
    repository = string
    tag        = string
    digest     = optional(string, "")
  })

  validation {
    condition     = length(var.image.repository) > 0 && length(var.image.tag) > 0
    error_message = "image.repository and image.tag must be set."
  }
  validation {
    condition     = var.image.digest == "" || can(regex("^sha256:[a-f0-9]{64}$", var.image.digest))
    error_message = "image.digest must be empty or sha256:<64 hex digits>."
  }
}

variable "regions" {
  description = <<-EOT
    The regions, one Helm release each. `size` (small, medium, large) sets API replicas, workers,
    scores-topic partitions and resources. `url` is the base URL the global tier reaches the region
    at (STRONG and SESSION reads). With `kafka_bootstrap` set, ingestion goes through Kafka and
    Faust workers; empty, scores are applied directly in the request.
  EOT
  type = list(object({
    name                     = string
    url                      = string
    size                     = optional(string, "small")
    kafka_bootstrap          = optional(string, "")
    redis_cluster            = optional(bool, false)
    cassandra_contact_points = optional(list(string), [])
    namespace                = optional(string, "")
  }))

  validation {
    condition     = length(var.regions) >= 1 && length(var.regions) <= 16
    error_message = "regions must list between 1 and 16 regions."
  }
  validation {
    condition     = length(distinct([for r in var.regions : r.name])) == length(var.regions)
    error_message = "region names must be unique."
  }
  validation {
    condition     = alltrue([for r in var.regions : can(regex("^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$", r.name))])
    error_message = "each region name must be a DNS label of at most 20 characters, e.g. us-east."
  }
  validation {
    condition     = alltrue([for r in var.regions : contains(["small", "medium", "large"], r.size)])
    error_message = "each region's size must be one of small, medium, large."
  }
  validation {
    condition     = alltrue([for r in var.regions : can(regex("^https?://[^\\s/]+", r.url))])
    error_message = "each region's url must be an http:// or https:// base URL."
  }
  validation {
    condition     = alltrue([for r in var.regions : r.kafka_bootstrap == "" || can(regex("^[^\\s,]+:[0-9]+(,[^\\s,]+:[0-9]+)*$", r.kafka_bootstrap))])
    error_message = "each region's kafka_bootstrap must be empty or host:port[,host:port…]."
  }
}

variable "global_tier" {
  description = "The global tier: `url` is the base URL the regions ship their changes to; `size` sets its resources (it runs one replica)."
  type = object({
    url           = string
    size          = optional(string, "medium")
    redis_cluster = optional(bool, false)
    namespace     = optional(string, "")
  })

  validation {
    condition     = can(regex("^https?://[^\\s/]+", var.global_tier.url))
    error_message = "global_tier.url must be an http:// or https:// base URL."
  }
  validation {
    condition     = contains(["small", "medium", "large"], var.global_tier.size)
    error_message = "global_tier.size must be one of small, medium, large."
  }
}

variable "topic_prefix" {
  description = "Kafka topic prefix: a region's topics are <prefix>.<region>.scores, .rank-changes, .quarantine and .replication."
  type        = string
  default     = "podium"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,100}$", var.topic_prefix))
    error_message = "topic_prefix may hold letters, digits, '.', '_' and '-' (1 to 100 characters)."
  }
}

variable "kafka_replication_factor" {
  description = "Replication factor of the topics each region creates at start-up."
  type        = number
  default     = 3

  validation {
    condition     = var.kafka_replication_factor >= 1 && var.kafka_replication_factor <= 7 && floor(var.kafka_replication_factor) == var.kafka_replication_factor
    error_message = "kafka_replication_factor must be a whole number from 1 to 7."
  }
}

variable "boards" {
  description = "Boards every region creates at start-up when missing (the global tier learns them by replication)."
  type = list(object({
    id       = string
    operator = optional(string, "best")
    order    = optional(string, "desc")
  }))
  default = []

  validation {
    condition     = alltrue([for b in var.boards : contains(["best", "latest", "increment", "decrement"], b.operator) && contains(["desc", "asc"], b.order)])
    error_message = "each board's operator must be best, latest, increment or decrement, and its order desc or asc."
  }
}

variable "service_monitor" {
  description = "Create a prometheus-operator ServiceMonitor for each region (needs the monitoring.coreos.com CRDs)."
  type        = bool
  default     = false
}
