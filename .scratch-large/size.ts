import { BSON } from 'bson';
import { claimDoc, archiveDoc } from '../bench/fixtures.ts';
let s=0; for (let i=0;i<1000;i++) s+=BSON.calculateObjectSize(claimDoc(i));
console.log('claim avg', s/1000, 'archive', BSON.calculateObjectSize(archiveDoc(5)));
const t=Date.now(); for (let i=0;i<20000;i++) claimDoc(i); console.log('gen 20k ms', Date.now()-t);
