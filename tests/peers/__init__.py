"""Real socket.io peers that play a CyTube channel for rosey's integration tests."""
