package ssmlocal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// tunnel runs `ssmsession -L 0:8080 -D 0 <instance>` as a user would:
// it waits for the plugin's "Waiting for connections..." lines, sends
// three HTTP requests at once through the -L tunnel (one smux session)
// and one through the SOCKS5 proxy to a name only the instance knows,
// then interrupts it.
func (d *demoRun) tunnel() error {
	ssmsession, err := d.tool("ssmsession")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s, path %s", r.Host, r.URL.Path)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	target := ssmtest.InstanceUbuntu
	if err := d.s.Fleet().SetPort(target, "8080", ln.Addr().String()); err != nil {
		return err
	}
	if err := d.s.Fleet().SetRemoteHost(target, "intranet.internal:80", ln.Addr().String()); err != nil {
		return err
	}
	args := []string{"-L", "0:8080", "-D", "0", target}
	fmt.Fprintf(d.out, "    $ ssmsession %s &\n", strings.Join(args, " "))
	ctx, cancel := context.WithTimeout(d.ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ssmsession, args...)
	cmd.Env = d.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	opened := regexp.MustCompile(`^Port (\d+) opened for (sessionId|SOCKS5)`)
	var ports []string
	for waiting := 0; waiting < 2; {
		select {
		case line, ok := <-lines:
			if !ok {
				return errors.New("ssmsession exited before both forwardings were ready")
			}
			fmt.Fprintf(d.out, "    | %s\n", line)
			if m := opened.FindStringSubmatch(line); m != nil {
				ports = append(ports, m[1])
			}
			if line == "Waiting for connections..." {
				waiting++
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	go func() { // later lines ("Connection accepted…") are not shown
		for range lines {
		}
	}()
	if len(ports) != 2 {
		return fmt.Errorf("ssmsession printed %d ports, want 2", len(ports))
	}
	get := func(client *http.Client, url string) (string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}
	direct := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	results := make(chan string, 3)
	for i := range 3 {
		go func() {
			body, err := get(direct, fmt.Sprintf("http://127.0.0.1:%s/request-%d", ports[0], i))
			if err != nil {
				body = "error: " + err.Error()
			}
			results <- body
		}()
	}
	fmt.Fprintf(d.out, "    $ curl http://127.0.0.1:%s/request-{0,1,2}   (at once)\n", ports[0])
	for range 3 {
		r := <-results
		fmt.Fprintf(d.out, "    | %s\n", r)
		if strings.HasPrefix(r, "error: ") {
			return errors.New(r)
		}
	}
	socks := &http.Client{Transport: &http.Transport{
		Proxy:             http.ProxyURL(&url.URL{Scheme: "socks5", Host: "127.0.0.1:" + ports[1]}),
		DisableKeepAlives: true,
	}, Timeout: 30 * time.Second}
	fmt.Fprintf(d.out, "    $ curl --socks5-hostname 127.0.0.1:%s http://intranet.internal/\n", ports[1])
	body, err := get(socks, "http://intranet.internal/")
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "    | %s\n", body)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("ssmsession after SIGINT: %w", err)
	}
	fmt.Fprintln(d.out, "    ssmsession interrupted: exit 0, its sessions terminated")
	return nil
}
