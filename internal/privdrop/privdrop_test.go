package privdrop

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Lookup takes a name or a numeric uid from the user database (Debian
// has nobody at 65534, group nogroup 65534) and refuses unknown users.
func TestLookupUser(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec    string
		wantErr string
		uid     int
	}{
		{spec: "nobody", uid: 65534},
		{spec: "65534", uid: 65534},
		{spec: "root", uid: 0},
		{spec: "no-such-user-simnet", wantErr: `--user "no-such-user-simnet"`},
		{spec: "4000000", wantErr: `--user "4000000"`},
		{spec: "", wantErr: "--user: empty user name"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			c, err := Lookup(tc.spec)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.uid, c.UID)
			assert.Equal(t, tc.uid, c.GID, "primary group")
			assert.Equal(t, tc.uid, c.Groups[0], "the primary group leads the group list")
		})
	}
}
