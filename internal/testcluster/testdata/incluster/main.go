// Command incluster is what the service network's smoke test (../../network_e2e_test.go)
// runs in a pod: it builds client-go's in-cluster config (the kubernetes Service's
// KUBERNETES_SERVICE_HOST/PORT, the mounted ServiceAccount token and CA), lists the pods of
// the pod's own namespace through it, and prints the server it used and the pods' names.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "incluster:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	ns, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := cs.CoreV1().Pods(strings.TrimSpace(string(ns))).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	fmt.Println("server", cfg.Host)
	for _, p := range pods.Items {
		fmt.Println("pod", p.Name)
	}
	return nil
}
