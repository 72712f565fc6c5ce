/** Generated `adjective-noun` VM names, retried until one is free. */
import { randomInt } from 'node:crypto';

const ADJECTIVES = [
  'amber', 'bold', 'brave', 'brisk', 'calm', 'clever', 'cosy', 'crisp', 'dapper', 'eager', 'fair', 'fancy',
  'fleet', 'fond', 'gentle', 'glad', 'golden', 'grand', 'happy', 'hardy', 'jolly', 'keen', 'kind', 'lively',
  'lucky', 'merry', 'mellow', 'misty', 'nimble', 'noble', 'plucky', 'polite', 'proud', 'quick', 'quiet',
  'rapid', 'rosy', 'rustic', 'shiny', 'silent', 'sleek', 'snowy', 'spry', 'steady', 'sunny', 'swift',
  'tidy', 'vivid', 'warm', 'wise', 'witty', 'zesty',
];
const NOUNS = [
  'otter', 'badger', 'falcon', 'heron', 'lynx', 'marten', 'puffin', 'raven', 'salmon', 'sparrow', 'tiger',
  'walrus', 'beaver', 'bison', 'cobra', 'coyote', 'crane', 'dingo', 'eagle', 'ferret', 'gecko', 'hare',
  'ibis', 'jackal', 'koala', 'lemur', 'magpie', 'newt', 'ocelot', 'panda', 'quail', 'robin', 'seal',
  'stoat', 'toucan', 'urchin', 'viper', 'wombat', 'yak', 'zebra', 'finch', 'moose', 'orca', 'pika',
  'kestrel', 'mole', 'owl', 'fox', 'wren', 'lark',
];

export function generateName(taken: (name: string) => boolean, attempts = 200): string {
  for (let i = 0; i < attempts; i++) {
    const name = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}`;
    if (!taken(name)) return name;
  }
  for (let n = 2; ; n++) {
    const name = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}-${n}`;
    if (!taken(name)) return name;
  }
}
