package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ssmssh/ssmssh/protocol"
)

// DefaultVersion is the agent version the built-in agent announces: a 3.3
// agent, new enough for smux without keepalive.
const DefaultVersion = "3.3.1142.0"

// Config configures a built-in agent for one instance.
type Config struct {
	// Endpoint is the gateway's https base URL.
	Endpoint string
	// TLS trusts the gateway's certificate.
	TLS *tls.Config
	// InstanceID is the managed instance this agent serves.
	InstanceID string
	// Version is announced to the gateway and in handshakes
	// (default DefaultVersion).
	Version string
	// Credentials sign every request to the gateway with SigV4 (service
	// ssmmessages, Region), as the real agent signs its channel POSTs and
	// websocket upgrades with its instance's credentials; nil sends them
	// unsigned.
	Credentials aws.CredentialsProvider
	// Region is the signing region.
	Region string
	// Now is the signing clock (nil: time.Now): the emulator's, so that an
	// emulator on a made-up clock accepts its agents' signatures.
	Now func() time.Time
	// KMS decrypts session data keys for KMS-encrypted sessions.
	KMS protocol.KMSClient
	// Dial reaches "localhost:<port>" and remote hosts for Port sessions:
	// the emulator maps them onto loopback addresses.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// LookupHost resolves remote hosts of port forwarding before the
	// forbidden-address check (default: the system resolver).
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// Shell runs shell sessions (default /bin/sh).
	Shell string
	// LookupUser resolves RunAs users (default os/user.Lookup).
	LookupUser func(name string) (*user.User, error)
	// Pacer paces what the agent sends the client in every session, as
	// the real agent paces it (nil: unpaced); see Pace.
	Pacer *Pacer
	// HandshakeTimeout bounds the wait for the client's handshake
	// response (default 15 s, as the real agent).
	HandshakeTimeout time.Duration
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
}

// Agent is a built-in stand-in for amazon-ssm-agent: it keeps a control
// channel open to the gateway and runs the sessions it is sent.
type Agent struct {
	cfg    Config
	client *http.Client
	logf   func(string, ...any)

	mu       sync.Mutex
	control  protocol.Transport
	cwmu     sync.Mutex // serialises control-channel writes
	sessions map[string]context.CancelFunc
	acks     map[string]chan struct{} // task id → closed on agent_task_acknowledge
	wg       sync.WaitGroup
}

// New returns an agent; Run connects it.
func New(cfg Config) *Agent {
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.Shell == "" {
		cfg.Shell = "/bin/sh"
	}
	if cfg.LookupUser == nil {
		cfg.LookupUser = user.Lookup
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 15 * time.Second
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Agent{
		cfg:      cfg,
		client:   &http.Client{Transport: &http.Transport{TLSClientConfig: cfg.TLS}, Timeout: 30 * time.Second},
		logf:     logf,
		sessions: make(map[string]context.CancelFunc),
		acks:     make(map[string]chan struct{}),
	}
}

// Run keeps the control channel connected until ctx ends, reconnecting
// after failures, then ends every session and returns.
func (a *Agent) Run(ctx context.Context) error {
	defer a.wg.Wait()
	defer a.cancelAll()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := a.serveControl(ctx)
		if ctx.Err() != nil {
			break
		}
		a.logf("agent %s: control channel: %v; reconnecting", a.cfg.InstanceID, err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return nil
}

// cancelSession ends a running session: the service closed it.
func (a *Agent) cancelSession(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cancel := a.sessions[id]; cancel != nil {
		cancel()
	}
}

func (a *Agent) cancelAll() {
	a.mu.Lock()
	for _, cancel := range a.sessions {
		cancel()
	}
	a.mu.Unlock()
}

// errChannelNotFound is wrapped by createChannel's error when the service
// no longer knows the session (or instance), or says that the session has
// ended: retrying cannot help.
var errChannelNotFound = errors.New("not found")

// sessionTerminated in the service's answer to CreateDataChannel makes the
// real agent stop reconnecting at once (its only non-retryable data
// channel error); the built-in agent does the same.
const sessionTerminated = "Session is already terminated"

// createChannel POSTs for a channel token as the real agent does.
func (a *Agent) createChannel(ctx context.Context, kind, id string) (string, error) {
	body, _ := json.Marshal(map[string]string{"MessageSchemaVersion": "1.0", "RequestId": uuid.NewString(),
		"ClientId": uuid.NewString()})
	u := strings.TrimRight(a.cfg.Endpoint, "/") + "/v1/" + kind + "/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := a.sign(ctx, req, body); err != nil {
		return "", fmt.Errorf("create %s: %w", kind, err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", kind, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode == http.StatusNotFound || bytes.Contains(data, []byte(sessionTerminated)) {
		return "", fmt.Errorf("create %s: %w: %s", kind, errChannelNotFound, bytes.TrimSpace(data))
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create %s: %s: %s", kind, resp.Status, bytes.TrimSpace(data))
	}
	var out struct {
		TokenValue string `xml:"TokenValue"`
	}
	if err := xml.Unmarshal(data, &out); err != nil || out.TokenValue == "" {
		return "", fmt.Errorf("create %s: no token in answer", kind)
	}
	return out.TokenValue, nil
}

// sign signs a request to the gateway, when the agent has credentials.
func (a *Agent) sign(ctx context.Context, req *http.Request, body []byte) error {
	if a.cfg.Credentials == nil {
		return nil
	}
	return protocol.SignRequest(ctx, req, body, a.cfg.Credentials, a.cfg.Region, a.cfg.Now)
}

func (a *Agent) wsURL(kind, id, query string) string {
	u := strings.TrimRight(a.cfg.Endpoint, "/") + "/v1/" + kind + "/" + url.PathEscape(id) + "?" + query
	return "wss" + strings.TrimPrefix(strings.TrimPrefix(u, "https"), "http")
}

func (a *Agent) serveControl(ctx context.Context) error {
	tok, err := a.createChannel(ctx, "control-channel", a.cfg.InstanceID)
	if err != nil {
		return err
	}
	d := websocket.Dialer{TLSClientConfig: a.cfg.TLS, HandshakeTimeout: 10 * time.Second}
	u := a.wsURL("control-channel", a.cfg.InstanceID, "role=subscribe&stream=input")
	up, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if err := a.sign(ctx, up, nil); err != nil {
		return fmt.Errorf("dial control channel: %w", err)
	}
	c, _, err := d.DialContext(ctx, u, up.Header)
	if err != nil {
		return fmt.Errorf("dial control channel: %w", err)
	}
	open, _ := json.Marshal(protocol.OpenControlChannelInput{
		MessageSchemaVersion: "1.0", RequestID: uuid.NewString(), TokenValue: tok,
		AgentVersion: a.cfg.Version, PlatformType: "linux",
	})
	if err := c.WriteMessage(websocket.TextMessage, open); err != nil {
		c.Close()
		return fmt.Errorf("open control channel: %w", err)
	}
	tr := protocol.NewWebsocketTransport(c, a.logf)
	a.mu.Lock()
	a.control = tr
	a.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { tr.Close() })
	defer stop()
	defer tr.Close()
	for {
		frame, err := tr.ReadFrame()
		if err != nil {
			return err
		}
		m, err := protocol.ParseMessage(frame)
		if err != nil {
			a.logf("agent %s: control channel: %v", a.cfg.InstanceID, err)
			continue
		}
		switch m.Type {
		case protocol.TypeInteractiveShell:
			a.startSession(ctx, m)
		case protocol.TypeChannelClosed:
			var cc protocol.ChannelClosed
			if json.Unmarshal(m.Payload, &cc) == nil {
				a.cancelSession(cc.SessionID)
			}
		case protocol.TypeAgentTaskAcknowledge:
			var ack protocol.AgentTaskAcknowledge
			if json.Unmarshal(m.Payload, &ack) == nil {
				a.mu.Lock()
				if ch := a.acks[ack.TaskID]; ch != nil {
					close(ch)
					delete(a.acks, ack.TaskID)
				}
				a.mu.Unlock()
			}
		}
	}
}

func (a *Agent) sendControl(m *protocol.Message) error {
	a.mu.Lock()
	tr := a.control
	a.mu.Unlock()
	if tr == nil {
		return errors.New("agent: no control channel")
	}
	m.MessageID = uuid.New()
	f, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	a.cwmu.Lock()
	defer a.cwmu.Unlock()
	return tr.WriteFrame(f)
}

func (a *Agent) startSession(ctx context.Context, m *protocol.Message) {
	var shell protocol.InteractiveShell
	var task protocol.AgentTaskPayload
	if err := json.Unmarshal(m.Payload, &shell); err != nil {
		a.logf("agent %s: bad interactive_shell: %v", a.cfg.InstanceID, err)
		return
	}
	if err := json.Unmarshal([]byte(shell.Content), &task); err != nil || task.SessionID == "" {
		a.logf("agent %s: bad session start: %v", a.cfg.InstanceID, err)
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	a.mu.Lock()
	if _, dup := a.sessions[task.SessionID]; dup {
		a.mu.Unlock()
		cancel()
		return
	}
	a.sessions[task.SessionID] = cancel
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		output, ok := a.runSession(sctx, &task)
		a.complete(ctx, &task, shell.Topic, output, ok)
		a.mu.Lock()
		delete(a.sessions, task.SessionID)
		a.mu.Unlock()
	}()
}

// complete reports the end of a session with agent_task_complete and
// repeats it until the gateway acknowledges (a few times at most).
func (a *Agent) complete(ctx context.Context, task *protocol.AgentTaskPayload, topic, output string, ok bool) {
	status := "Success"
	if !ok {
		status = "Failed"
	}
	payload, _ := json.Marshal(protocol.AgentTaskComplete{
		SchemaVersion: 1, TaskID: task.SessionID, Topic: topic, FinalTaskStatus: status,
		InstanceID: a.cfg.InstanceID, Output: output,
	})
	acked := make(chan struct{})
	a.mu.Lock()
	a.acks[task.SessionID] = acked
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.acks, task.SessionID)
		a.mu.Unlock()
	}()
	for attempt := 0; attempt < 5; attempt++ {
		if err := a.sendControl(&protocol.Message{Type: protocol.TypeAgentTaskComplete, Payload: payload}); err != nil {
			a.logf("agent %s: agent_task_complete for %s: %v", a.cfg.InstanceID, task.SessionID, err)
		}
		select {
		case <-acked:
			return
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}
