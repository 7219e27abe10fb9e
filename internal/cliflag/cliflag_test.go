package cliflag

import (
	"errors"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeedFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		arg  string
		want uint64
		err  bool
	}{
		{"0", 0, false},
		{"18446744073709551615", 18446744073709551615, false},
		{"abc", 0, true},
		{"-1", 0, true},
		{"18446744073709551616", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			t.Parallel()
			fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
			var seed uint64
			SeedVar(fs, &seed, "seed", 7, "seed")
			err := fs.Parse([]string{"--seed=" + tt.arg})
			if tt.err {
				require.Error(t, err)
				assert.NotContains(t, err.Error(), "strconv")
				assert.Contains(t, err.Error(), SeedRange)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, seed)
		})
	}
}

func TestCleanError(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`invalid argument "x" for "--echo" flag: strconv.ParseUint: parsing "x": invalid syntax`:             `invalid argument "x" for "--echo" flag: not a number`,
		`invalid argument "99999" for "--echo" flag: strconv.ParseUint: parsing "99999": value out of range`: `invalid argument "99999" for "--echo" flag: out of range`,
		`unknown flag: --nope`: `unknown flag: --nope`,
	}
	for in, want := range tests {
		assert.Equal(t, want, CleanError(errors.New(in)).Error())
	}
	assert.NoError(t, CleanError(nil))
}
