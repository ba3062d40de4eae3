"""rosey's plugins: every module here (and in configured drop-in directories) may provide
:class:`rosey.plugin.IRoseyPlugin` objects, found with ``twisted.plugin.getPlugins``.

``[plugins] dirs`` are appended to ``__path__`` by
:func:`rosey.daemon.plugin_discovery.add_dirs` before discovery, so a file ``hello.py`` in one of
them is the module ``rosey.plugins.hello``."""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []
