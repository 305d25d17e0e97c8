"""The kubernetes backend: Minikube or any kubeconfig, the Helm chart in helm/mlscale."""
