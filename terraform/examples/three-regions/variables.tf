variable "kubeconfig_path" {
  description = "The kubeconfig holding a context for each of the four clusters."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_contexts" {
  description = "The kubeconfig context of each cluster: one per region and one for the global tier."
  type = object({
    us_east  = string
    eu_west  = string
    ap_south = string
    global   = string
  })
  default = {
    us_east  = "us-east"
    eu_west  = "eu-west"
    ap_south = "ap-south"
    global   = "global"
  }
}

variable "image" {
  description = "The Podium image built from the repository's Dockerfile and pushed to your registry."
  type = object({
    repository = string
    tag        = string
    digest     = optional(string, "")
  })
  default = {
    repository = "registry.example.com/podium"
    tag        = "0.1.0"
  }
}

variable "regions" {
  description = "The three regions (see the topology module). This example wires exactly us-east, eu-west and ap-south, one cluster each."
  type = list(object({
    name                     = string
    url                      = string
    size                     = optional(string, "small")
    kafka_bootstrap          = optional(string, "")
    redis_cluster            = optional(bool, false)
    cassandra_contact_points = optional(list(string), [])
    namespace                = optional(string, "")
  }))
  default = [
    {
      name                     = "us-east"
      url                      = "https://podium-us-east.example.com"
      size                     = "large"
      kafka_bootstrap          = "kafka-0.kafka.us-east:9092,kafka-1.kafka.us-east:9092,kafka-2.kafka.us-east:9092"
      redis_cluster            = true
      cassandra_contact_points = ["cassandra-0.cassandra.us-east", "cassandra-1.cassandra.us-east"]
    },
    {
      name            = "eu-west"
      url             = "https://podium-eu-west.example.com"
      size            = "medium"
      kafka_bootstrap = "kafka-0.kafka.eu-west:9092,kafka-1.kafka.eu-west:9092,kafka-2.kafka.eu-west:9092"
    },
    {
      name = "ap-south"
      url  = "https://podium-ap-south.example.com"
    },
  ]

  validation {
    condition     = sort([for r in var.regions : r.name]) == ["ap-south", "eu-west", "us-east"]
    error_message = "this example wires exactly the regions us-east, eu-west and ap-south (one provider alias each)."
  }
}

variable "global_tier" {
  description = "The global tier (see the topology module): the URL the regions ship their changes to."
  type = object({
    url           = string
    size          = optional(string, "medium")
    redis_cluster = optional(bool, false)
    namespace     = optional(string, "")
  })
  default = {
    url = "https://podium-global.example.com"
  }
}

variable "boards" {
  description = "Boards every region creates at start-up."
  type = list(object({
    id       = string
    operator = optional(string, "best")
    order    = optional(string, "desc")
  }))
  default = [{ id = "arena" }]
}

variable "redis_urls" {
  description = "REDIS_URL per release: keys us-east, eu-west, ap-south and global, four distinct Redis deployments."
  type        = map(string)
  sensitive   = true

  validation {
    condition     = sort(keys(var.redis_urls)) == ["ap-south", "eu-west", "global", "us-east"]
    error_message = "redis_urls needs exactly the keys us-east, eu-west, ap-south and global."
  }
  validation {
    condition     = length(distinct(values(var.redis_urls))) == length(var.redis_urls)
    error_message = "each region and the global tier need their own Redis: Podium's keys carry no region prefix."
  }
}

variable "game_server_keys" {
  description = "Game-server HMAC keys (key id -> secret), the same in every region."
  type        = map(string)
  sensitive   = true
}

variable "admin_keys" {
  description = "Admin API keys, the same on every release."
  type        = list(string)
  sensitive   = true
}

variable "replication_secret" {
  description = "HMAC secret shared by the regions and the global tier (at least 32 characters)."
  type        = string
  sensitive   = true
}

variable "jwt_secret" {
  description = "HMAC key for HS256 player JWTs; empty: unset."
  type        = string
  sensitive   = true
  default     = ""
}
