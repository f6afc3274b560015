package testcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ca is the cluster's certificate authority: it signs the apiserver's serving certificate and
// every client certificate (components, admin, restricted test identities).
type ca struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func createCA(dir string) (*ca, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "preflight-testcluster-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &ca{cert: cert, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), c.certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), kp, 0o600); err != nil {
		return nil, err
	}
	return c, nil
}

func loadCA(dir string) (*ca, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	keyBytes, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyBytes)
	if cb == nil || kb == nil {
		return nil, errors.New("bad CA files")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA key is not a signer")
	}
	return &ca{cert: cert, certPEM: certPEM, key: signer}, nil
}

// issue signs a certificate for cn/orgs; server certificates get the given SANs.
func (c *ca) issue(cn string, orgs []string, server bool, ips []net.IP, dns []string) (certPEM, keyPEMBytes []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(2 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IPAddresses:  ips,
		DNSNames:     dns,
	}
	if server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		return nil, nil, err
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), kp, nil
}

// writePair writes name.crt and name.key into dir.
func writePair(dir, name string, certPEM, keyPEMBytes []byte) error {
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), certPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".key"), keyPEMBytes, 0o600)
}

// clientKubeconfig writes a self-contained kubeconfig for a client certificate.
func (c *ca) clientKubeconfig(path, server, user string, orgs []string) error {
	certPEM, kp, err := c.issue(user, orgs, false, nil, nil)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["preflight-testcluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: c.certPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: kp}
	cfg.Contexts["preflight-testcluster"] = &clientcmdapi.Context{Cluster: "preflight-testcluster", AuthInfo: user}
	cfg.CurrentContext = "preflight-testcluster"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// writePKI creates the CA, the serving and client certificates, the service-account key pair
// and the components' kubeconfigs.
func writePKI(p paths) error {
	dir := p.pki()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	c, err := createCA(dir)
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	crt, key, err := c.issue("kube-apiserver", nil, true,
		[]net.IP{net.ParseIP(hostIP), net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	if err != nil {
		return err
	}
	if err := writePair(dir, "apiserver", crt, key); err != nil {
		return err
	}
	crt, key, err = c.issue("kube-apiserver-kubelet-client", []string{"system:masters"}, false, nil, nil)
	if err != nil {
		return err
	}
	if err := writePair(dir, "apiserver-kubelet-client", crt, key); err != nil {
		return err
	}
	sa, err := newKey()
	if err != nil {
		return err
	}
	saKey, err := keyPEM(sa)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(sa.Public())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), saKey, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return err
	}
	server := "https://" + net.JoinHostPort(hostIP, apiPort)
	kc := p.kubeconfigs()
	for _, k := range []struct{ file, user string }{
		{"admin", "preflight-admin"},
		{compCM, "system:kube-controller-manager"},
		{compScheduler, "system:kube-scheduler"},
		{compKwok, "kwok-controller"},
	} {
		// The components are cluster admins: they run with a single identity
		// (--use-service-account-credentials=false), which the narrower bootstrap roles of
		// kube-controller-manager do not cover.
		if err := c.clientKubeconfig(filepath.Join(kc, k.file+".kubeconfig"), server, k.user, []string{"system:masters"}); err != nil {
			return err
		}
	}
	return c.clientKubeconfig(filepath.Join(kc, "kubelet.kubeconfig"), server, "system:node:"+RealNodeName, []string{"system:nodes"})
}
