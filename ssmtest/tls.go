package ssmtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// serverTLS is the emulator's own small PKI: a CA made at Start, and a
// serving certificate it issues for the loopback names.
type serverTLS struct {
	dir    string // temporary directory holding ca.pem, removed by Close
	caFile string
	pool   *x509.CertPool
	cert   tls.Certificate
}

// newServerTLS makes a CA and a serving certificate for 127.0.0.1, ::1 and
// localhost, and writes the CA's PEM into a new temporary directory.
//
// Certificates are valid from 1999-12-31 (so that code running inside a
// testing/synctest bubble, whose clock starts in 2000, still accepts them)
// until a day after now.
func newServerTLS() (*serverTLS, error) {
	notBefore := time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)
	notAfter := time.Now().Add(24 * time.Hour)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ssmtest: generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"ssmtest"}, CommonName: "ssmtest emulator CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("ssmtest: create CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("ssmtest: parse CA certificate: %w", err)
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ssmtest: generate server key: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"ssmtest"}, CommonName: "127.0.0.1"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("ssmtest: create server certificate: %w", err)
	}

	dir, err := os.MkdirTemp("", "ssmtest-")
	if err != nil {
		return nil, fmt.Errorf("ssmtest: %w", err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ssmtest: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &serverTLS{
		dir:    dir,
		caFile: caFile,
		pool:   pool,
		cert:   tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
	}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

// serverConfig is the listener's TLS configuration. HTTP/2 is not offered:
// websockets need HTTP/1.1, and the AWS endpoints answer HTTP/1.1 too.
func (t *serverTLS) serverConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{t.cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// clientConfig trusts the emulator's CA and nothing else.
func (t *serverTLS) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: t.pool, MinVersion: tls.VersionTLS12}
}

func (t *serverTLS) remove() error {
	if err := os.RemoveAll(t.dir); err != nil {
		return fmt.Errorf("ssmtest: remove %s: %w", t.dir, err)
	}
	return nil
}
