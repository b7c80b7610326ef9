/*
 * The non-network factions a NetBSD rump kernel is linked with: `rumpdev`
 * (autoconf and the device framework) and `rumpvfs` (the file system
 * layer). NetBSD's tests link them into every network test's rump_server
 * (`-lrumpdev`, `-lrumpvfs`); here interfaces need no device tree and the
 * kernel has no file system, so linking them adds nothing, but a command
 * line NetBSD accepts boots the same kernel here.
 */
import { registerComponent, InitLevel } from './component.js';

registerComponent({ name: 'dev', requires: [], level: InitLevel.DEV, init() {} });
registerComponent({ name: 'vfs', requires: [], level: InitLevel.KERN, init() {} });
