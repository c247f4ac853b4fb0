package ssmtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// serverTLS is the emulator's own small PKI: a CA, made at Start or kept
// in Options.CADir, a serving certificate it issues for the loopback names
// (and the listening address), and certificates for the AWS host names
// that clients reach through the CONNECT proxy (proxy.go), issued on
// demand from the name the client asks for in its TLS hello.
type serverTLS struct {
	dir     string // the directory holding ca.pem
	temp    bool   // dir is a temporary directory, removed by Close
	caFile  string
	pool    *x509.CertPool
	caCert  *x509.Certificate
	caKey   crypto.Signer
	caDER   []byte
	leafTTL time.Time // NotAfter of the certificates issued
	local   tls.Certificate

	mu     sync.Mutex
	byName map[string]*tls.Certificate // AWS host name → its certificate
}

// File names of a CA kept in Options.CADir.
const (
	caCertFile = "ca.pem"
	caKeyFile  = "ca-key.pem"
)

// Lifetimes: a CA kept in a directory serves ten years, so that agents and
// trust stores configured with it keep working across emulator restarts;
// a temporary one lives a day. Either is renewed at Start when less than
// a day is left.
const (
	keptCALifetime = 10 * 365 * 24 * time.Hour
	tempCALifetime = 24 * time.Hour
	caRenewMargin  = 24 * time.Hour
)

// certNotBefore starts the validity of every certificate: 1999-12-31, so
// that code running inside a testing/synctest bubble, whose clock starts
// in 2000, still accepts them.
var certNotBefore = time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)

// newServerTLS loads the CA kept in caDir (making and writing one if there
// is none, or it is unreadable or near its end), or makes a temporary one
// when caDir is empty; then it issues the serving certificate for
// 127.0.0.1, ::1, localhost and the extra listening addresses.
func newServerTLS(caDir string, extraIPs []net.IP) (*serverTLS, error) {
	t := &serverTLS{dir: caDir, byName: make(map[string]*tls.Certificate)}
	if caDir == "" {
		dir, err := os.MkdirTemp("", "ssmtest-")
		if err != nil {
			return nil, fmt.Errorf("ssmtest: %w", err)
		}
		t.dir, t.temp = dir, true
	} else if err := os.MkdirAll(caDir, 0o700); err != nil {
		return nil, fmt.Errorf("ssmtest: CA directory: %w", err)
	}
	t.caFile = filepath.Join(t.dir, caCertFile)
	if err := t.loadOrMakeCA(); err != nil {
		_ = t.remove()
		return nil, err
	}
	t.leafTTL = t.caCert.NotAfter
	ips := append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, extraIPs...)
	local, err := t.issue("127.0.0.1", ips, []string{"localhost"})
	if err != nil {
		_ = t.remove()
		return nil, err
	}
	t.local = *local
	t.pool = x509.NewCertPool()
	t.pool.AddCert(t.caCert)
	return t, nil
}

// loadOrMakeCA reads ca.pem and ca-key.pem of a kept CA, or makes a CA
// and writes them.
func (t *serverTLS) loadOrMakeCA() error {
	// A missing, damaged or expiring CA is replaced by a new one: clients
	// must then trust the new ca.pem, which beats refusing to run.
	if !t.temp && t.loadCA() == nil {
		return nil
	}
	lifetime := keptCALifetime
	if t.temp {
		lifetime = tempCALifetime
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("ssmtest: generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"ssmtest"}, CommonName: "ssmtest emulator CA"},
		NotBefore:             certNotBefore,
		NotAfter:              time.Now().Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("ssmtest: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("ssmtest: parse CA certificate: %w", err)
	}
	if !t.temp {
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return fmt.Errorf("ssmtest: encode CA key: %w", err)
		}
		// The key first, so that a certificate never lies next to a key
		// that does not belong to it.
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
		if err := writeFileAtomic(filepath.Join(t.dir, caKeyFile), keyPEM); err != nil {
			return fmt.Errorf("ssmtest: keep CA key: %w", err)
		}
	}
	if err := writeFileAtomic(t.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return fmt.Errorf("ssmtest: write CA: %w", err)
	}
	t.caCert, t.caKey, t.caDER = cert, key, der
	return nil
}

// loadCA reads a kept CA; it fails when the files are missing, do not hold
// a CA certificate and its key, or the CA ends within a day.
func (t *serverTLS) loadCA() error {
	certPEM, err := os.ReadFile(t.caFile)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(filepath.Join(t.dir, caKeyFile))
	if err != nil {
		return err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return errors.New("ssmtest: kept CA: not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return fmt.Errorf("ssmtest: kept CA: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return fmt.Errorf("ssmtest: kept CA key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) || !cert.IsCA {
		return errors.New("ssmtest: kept CA: key does not match the certificate")
	}
	if time.Until(cert.NotAfter) < caRenewMargin {
		return errors.New("ssmtest: kept CA: expires within a day")
	}
	t.caCert, t.caKey, t.caDER = cert, key, cb.Bytes
	return nil
}

// writeFileAtomic writes a file readable by its owner only, under a
// temporary name first, so that a reader never sees half of it.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// issue makes a serving certificate signed by the CA.
func (t *serverTLS) issue(cn string, ips []net.IP, names []string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ssmtest: generate server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"ssmtest"}, CommonName: cn},
		NotBefore:    certNotBefore,
		NotAfter:     t.leafTTL,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  ips,
		DNSNames:     names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, t.caCert, &key.PublicKey, t.caKey)
	if err != nil {
		return nil, fmt.Errorf("ssmtest: create server certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der, t.caDER}, PrivateKey: key}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

// isAWSHost reports whether name is an AWS service endpoint the CONNECT
// proxy answers for: amazonaws.com and its subdomains (kms.<region>…,
// ssmmessages.<region>…), the China partition's amazonaws.com.cn, and the
// dual-stack api.aws names.
func isAWSHost(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, domain := range []string{"amazonaws.com", "amazonaws.com.cn", "api.aws"} {
		if name == domain || strings.HasSuffix(name, "."+domain) {
			return true
		}
	}
	return false
}

// certificate picks the certificate for a TLS hello: one for the AWS host
// name it asks for (issued once per name), else the loopback certificate.
func (t *serverTLS) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if !isAWSHost(name) {
		return &t.local, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.byName[name]; c != nil {
		return c, nil
	}
	c, err := t.issue(name, nil, []string{name})
	if err != nil {
		return nil, err
	}
	t.byName[name] = c
	return c, nil
}

// serverConfig is the listener's TLS configuration. HTTP/2 is not offered:
// websockets need HTTP/1.1, and the AWS endpoints answer HTTP/1.1 too.
func (t *serverTLS) serverConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: t.certificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
	}
}

// clientConfig trusts the emulator's CA and nothing else.
func (t *serverTLS) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: t.pool, MinVersion: tls.VersionTLS12}
}

// remove deletes a temporary CA; a kept one stays for the next run.
func (t *serverTLS) remove() error {
	if !t.temp {
		return nil
	}
	if err := os.RemoveAll(t.dir); err != nil {
		return fmt.Errorf("ssmtest: remove %s: %w", t.dir, err)
	}
	return nil
}
