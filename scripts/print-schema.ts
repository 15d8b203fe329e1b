// Prints the Pothos schema to schema.graphql (committed; clients and codegen read it).
import fs from 'node:fs';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from '../src/schema/index.ts';

const file = new URL('../schema.graphql', import.meta.url);
fs.writeFileSync(file, `${printSchema(lexicographicSortSchema(schema))}\n`);
console.log(`wrote ${file.pathname}`);
