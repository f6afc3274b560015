package analyzer

import (
	"fmt"
	"sync/atomic"
)

// Budget is a run-wide CEL cost budget shared by all expressions of one run, as Kubernetes
// shares one budget among the expressions of an admission request. Every evaluation subtracts
// its actual cost; once the budget is spent, evaluations fail with ErrBudgetExhausted, so a
// spec cannot burn unbounded CPU by having many expressions each stay under
// perCallCostLimit. The zero value allows defaultRunBudget. A Budget is safe for concurrent
// use and must not be copied after first use.
type Budget struct {
	limit uint64
	spent atomic.Uint64
}

// NewBudget returns a budget of limit; 0 means defaultRunBudget.
func NewBudget(limit uint64) *Budget { return &Budget{limit: limit} }

// Limit returns the budget's total.
func (b *Budget) Limit() uint64 {
	if b == nil {
		return 0
	}
	if b.limit == 0 {
		return defaultRunBudget
	}
	return b.limit
}

// Spent returns the cost charged so far. It may exceed Limit by the cost of the evaluation
// that exhausted the budget.
func (b *Budget) Spent() uint64 {
	if b == nil {
		return 0
	}
	return b.spent.Load()
}

// Remaining returns what is left of the budget.
func (b *Budget) Remaining() uint64 {
	if s, l := b.Spent(), b.Limit(); s < l {
		return l - s
	}
	return 0
}

// exhausted reports whether nothing is left; a nil budget is never exhausted.
func (b *Budget) exhausted() bool { return b != nil && b.spent.Load() >= b.Limit() }

// charge subtracts cost and reports whether the budget still held it.
func (b *Budget) charge(cost uint64) bool {
	if b == nil {
		return true
	}
	return b.spent.Add(cost) <= b.Limit()
}

func (b *Budget) exhaustedError() error {
	return fmt.Errorf("%w (%d of %d spent): no further expression of this run is evaluated", ErrBudgetExhausted, b.Spent(), b.Limit())
}
