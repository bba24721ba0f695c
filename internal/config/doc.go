// Package config owns the daemon's settings: their defaults, how they are
// read from the environment (as the ARS guide does: AGORA_FILE_ROOT, PORT,
// plus ARS_*), how flags override them, and validation that names the
// offending setting.
package config
