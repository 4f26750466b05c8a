// Package wire holds what the tasker host and its handler plugins must agree
// on to talk to each other through hashicorp/go-plugin: the handshake, the
// name under which the handler plugin is dispensed, and the go-plugin
// GRPCPlugin that connects the generated gRPC code on both sides.
//
// Handler authors do not need this package; they use pluginsdk.Serve.
// It must never import the tasker core packages.
package wire

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
)

// Handshake is the go-plugin handshake shared by the host and every plugin.
// A plugin binary started without the magic cookie in its environment (for
// example by a user from a shell) explains that it is a plugin and exits.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "TASKER_PLUGIN",
	MagicCookieValue: "e1288f5d408848f459d7a1251a5d63ca8b4a2572160daff0",
}

// PluginName is the key under which the handler plugin is registered in the
// go-plugin plugin set on both sides.
const PluginName = "handler"

// MaxMessageBytes bounds a single gRPC message in either direction (step
// context, dependency results, step results). gRPC's default of 4 MiB is too
// small for some workflows.
const MaxMessageBytes = 64 << 20

// GRPCPlugin is the go-plugin plugin.GRPCPlugin for the HandlerPlugin
// service. The plugin side sets Impl; the host side leaves it nil and gets
// a pluginv1.HandlerPluginClient from Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin

	// Impl implements the service inside the plugin process.
	Impl pluginv1.HandlerPluginServer
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the HandlerPlugin service on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("wire: GRPCPlugin.Impl is nil")
	}
	pluginv1.RegisterHandlerPluginServer(s, p.Impl)
	return nil
}

// GRPCClient returns a pluginv1.HandlerPluginClient on the host's connection
// to the plugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pluginv1.NewHandlerPluginClient(c), nil
}

// Protocol versions this build speaks, newest last. A host lists every
// version it supports, a plugin the ones it was built with, and go-plugin
// picks the highest both know: a newer host keeps running older plugins.
// Version 2 will be added beside 1, never instead of it.
const currentProtocol = 1

// VersionedPlugins is the plugin set of each protocol version, for the
// VersionedPlugins field of go-plugin's client and server configurations.
func VersionedPlugins(server pluginv1.HandlerPluginServer) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{currentProtocol: PluginSet(server)}
}

// PluginSet returns the go-plugin plugin set for one side: pass the service
// implementation in the plugin process and nil in the host.
func PluginSet(server pluginv1.HandlerPluginServer) plugin.PluginSet {
	return plugin.PluginSet{PluginName: &GRPCPlugin{Impl: server}}
}

// ServerOptions are the gRPC server options the plugin side adds to the ones
// go-plugin provides.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
	}
}

// DialOptions are the gRPC dial options the host adds to the ones go-plugin
// provides.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes),
			grpc.MaxCallSendMsgSize(MaxMessageBytes),
		),
	}
}
