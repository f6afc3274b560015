package podrun

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// CleanupOptions select the pods Cleanup removes. The zero value selects every pod the
// library created, in every namespace.
type CleanupOptions struct {
	// Namespace limits the sweep to one namespace; "" means all.
	Namespace string
	// RunID limits it to one run; "" means every run.
	RunID string
	// OlderThan keeps pods younger than this (by creation time); 0 means any age.
	OlderThan time.Duration
	// Expired keeps pods whose run deadline (AnnotationDeadline) has not passed. Pending pods
	// of a crashed run, which activeDeadlineSeconds never ends, are past it.
	Expired bool
	// Now is the current time; zero means time.Now().
	Now time.Time
}

// Cleanup deletes the pods a run (or a crashed run) left, found by the library's labels, and
// returns their names as namespace/name, sorted. Pods are deleted with a grace period of 1s.
// It needs list and delete on pods where it looks. The error joins every failed deletion;
// the names of the pods that were deleted are returned either way.
func Cleanup(ctx context.Context, cs kubernetes.Interface, opts CleanupOptions) ([]string, error) {
	sel := LabelManagedBy + "=" + ManagedBy
	if opts.RunID != "" {
		sel += "," + LabelRunID + "=" + LabelValue(opts.RunID)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	list, err := cs.CoreV1().Pods(opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list pods (%s): %w", sel, err)
	}
	var (
		mu      sync.Mutex
		deleted []string
		errs    []error
		g       errgroup.Group
	)
	g.SetLimit(16)
	for i := range list.Items {
		p := &list.Items[i]
		if opts.OlderThan > 0 && now.Sub(p.CreationTimestamp.Time) < opts.OlderThan {
			continue
		}
		if opts.Expired {
			d, err := time.Parse(time.RFC3339, p.Annotations[AnnotationDeadline])
			if err == nil && now.Before(d) {
				continue
			}
		}
		ns, name := p.Namespace, p.Name
		g.Go(func() error {
			err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](1)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				deleted = append(deleted, ns+"/"+name)
			case !apierrors.IsNotFound(err):
				errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", ns, name, err))
			}
			return nil // every deletion is tried; errs joins the failures
		})
	}
	_ = g.Wait()
	sort.Strings(deleted)
	return deleted, errors.Join(errs...)
}
