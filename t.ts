import { createDb } from './lib/db/client';
import { seed } from './lib/db/seed';
const db = createDb();
try { console.log(await seed(db)); } catch (e) { console.log('ERR', e); }
