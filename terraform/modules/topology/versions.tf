terraform {
  # optional() attributes with defaults, cross-object validation conditions and `terraform test`.
  required_version = ">= 1.9"
}
