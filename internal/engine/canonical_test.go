package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/jackc/pgx/v5"
)

// TestCanonicalNumber pins CanonicalNumber to PostgreSQL's numeric text, which is how jsonb
// gives back metadata numbers: the table below is what PostgreSQL 15 answers for each, and
// when HERALD_TEST_DATABASE_URL is set, random numbers are compared with the server's own
// answer too.
func TestCanonicalNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0": "0", "12": "12", "-12": "-12", "1e2": "100", "1E+2": "100", "1.50": "1.50", "1.5e1": "15",
		"1.50e1": "15.0", "1e-2": "0.01", "-0": "0", "-0.0": "0.0", "0.10e-1": "0.010", "-1.5e-3": "-0.0015",
		"123.456e1": "1234.56", "123.456e-1": "12.3456", "0e5": "0", "0.000e2": "0.0", "100e-2": "1.00",
		"12345678901234567890": "12345678901234567890", "-12.30e0": "-12.30", "007e0": "7", "5e-5": "0.00005",
	} {
		if got := engine.CanonicalNumber(in); got != want {
			t.Errorf("CanonicalNumber(%s) = %s, want %s", in, got, want)
		}
	}
	if os.Getenv(pgtest.EnvURL) == "" {
		return
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		n := fmt.Sprintf("%d", r.IntN(100000))
		if r.IntN(2) == 0 {
			n = "-" + n
		}
		if r.IntN(2) == 0 {
			n += "." + fmt.Sprintf("%0*d", r.IntN(5)+1, r.IntN(1000))
		}
		if r.IntN(2) == 0 {
			n += fmt.Sprintf("e%d", r.IntN(60)-30)
		}
		if !store.NumberInRange([]byte(n)) {
			continue
		}
		var pg string
		if err := conn.QueryRow(ctx, `SELECT ($1::jsonb)->>'a'`, `{"a":`+n+`}`).Scan(&pg); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if got := engine.CanonicalNumber(n); got != pg {
			t.Errorf("CanonicalNumber(%s) = %s, PostgreSQL says %s", n, got, pg)
		}
	}
}
