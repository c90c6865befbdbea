package cache

// Waiting returns how many requests of key wait for its next Redis call.
func (l *RateLimiter) Waiting(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if k := l.keys[key]; k != nil {
		return len(k.pending)
	}
	return 0
}
