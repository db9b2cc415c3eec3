// Which group a placement request names: a configured vhost by name, or the
// vhost the same classifier as trapped connections picks from the name (SNI,
// else Host) and the local address. The name goes to the classifier as the
// request head a client would have sent, so wildcards, ports and the
// address-before-name rule work exactly as for a trapped connection.
import type { VhqosConfig } from '../types';
import { createClassifier } from '../classify/classifier';
import { PlaceError, type PlaceRequest, type Placed } from './protocol';

export const DEFAULT_GROUP = '_default';

export type Choice = Pick<Placed, 'vhost' | 'group' | 'by' | 'detail'>;

/** A chooser for one config; build it again when the config changes (reload). */
export function groupChooser(config: VhqosConfig): (req: PlaceRequest) => Choice {
  const classify = createClassifier(config);
  const names = new Set(config.vhosts.map((v) => v.name));
  return (req) => {
    if (req.vhost !== undefined) {
      if (!names.has(req.vhost)) throw new PlaceError('ENOENT', `no vhost named ${JSON.stringify(req.vhost)} in this instance's config`);
      return { vhost: req.vhost, group: req.vhost, by: 'vhost' };
    }
    const name = req.sni ?? req.host;
    // The classifier's own parser takes the port off and lower-cases the name.
    const head = name === undefined ? new Uint8Array() : Buffer.from(`GET / HTTP/1.1\r\nHost: ${name}\r\n\r\n`, 'latin1');
    const c = classify({ local: req.local ?? { ip: '', port: 0 }, firstBytes: head });
    const by = c.by === 'host' && req.sni !== undefined ? 'sni' : c.by;
    return { vhost: c.vhost, group: c.vhost ?? DEFAULT_GROUP, by, ...(c.detail === undefined ? {} : { detail: c.detail }) };
  };
}
