"""The wire: Engine.IO/Socket.IO codec, the Autobahn adapter, and the CyTube connection."""
